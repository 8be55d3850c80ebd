/**
 * PBS durations (`walltime`, `cput`): `[[hh:]mm:]ss[.ms]` to seconds and back to `HH:MM:SS`.
 */
import { PbsParseError } from "../errors.js";

const WALLTIME_RE = /^(\d+)(?::(\d+))?(?::(\d+))?(\.\d*)?$/;

/**
 * Parse `[[hh:]mm:]ss[.ms]` to whole seconds: `10`, `1:30`, `01:00:00`, `100:00:00`.
 * Only the leading field may exceed 59 (`90:00` is 90 minutes, `3600` is 3600 s).
 * A fraction of a second is allowed on the last field and rounded up.
 */
export function parseWalltime(text: string): number {
  const t = text.trim();
  const m = WALLTIME_RE.exec(t);
  if (!m) {
    throw new PbsParseError(
      `Illegal attribute or resource value: time "${text}" (expected [[hh:]mm:]ss, e.g. 01:30:00)`,
    );
  }
  const fields = [m[1], m[2], m[3]].filter((f): f is string => f !== undefined).map(Number);
  for (let i = 1; i < fields.length; i++) {
    if (fields[i] > 59) {
      throw new PbsParseError(
        `Illegal attribute or resource value: time "${text}" (minutes and seconds after the first field must be 0-59)`,
      );
    }
  }
  let seconds = 0;
  for (const f of fields) seconds = seconds * 60 + f;
  const frac = m[4] && m[4].length > 1 ? Number(`0${m[4]}`) : 0;
  if (frac > 0) seconds += 1;
  if (!Number.isSafeInteger(seconds)) {
    throw new PbsParseError(`Illegal attribute or resource value: time "${text}" is too large`);
  }
  return seconds;
}

/** Format seconds as `HH:MM:SS` (hours at least two digits, `100:00:00` for 100 h). Fractions are dropped. */
export function formatWalltime(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) {
    throw new PbsParseError(`Illegal attribute or resource value: time ${sec} (must be >= 0 seconds)`);
  }
  const s = Math.floor(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(ss).padStart(2, "0")}`;
}
