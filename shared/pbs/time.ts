/**
 * Times as PBS prints them. Two shapes, both from OpenPBS and both in the local time of the
 * process that formats them (PBS formats on the server with localtime(3); we do the same, so a
 * site's TZ decides what its users read, and tests pin TZ in vitest.config.ts):
 *
 * - `ctime`: what qstat -f prints for ctime, mtime, qtime, stime... (src/cmds/qstat.c passes the
 *   epoch to ctime(3) and drops the newline): `Wed Dec  2 08:03:41 2026`, the day padded with a
 *   space, not a zero.
 * - `commentTime`: what the server puts in a job's comment when it runs it (src/server/
 *   req_runjob.c, form_attr_comment: strftime "%a %b %d at %H:%M"): `Wed Dec 02 at 08:03`, so the
 *   comment reads `Job run at Wed Dec 02 at 08:03 on (node1:ncpus=1)`.
 * - `traceTime`: what tracejob prints before each event: `12/02/2026 08:03:41`.
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const p2 = (n: number) => String(n).padStart(2, "0");

/** Epoch milliseconds to ctime(3) without the newline, local time: `Wed Dec  2 08:03:41 2026`. */
export function ctime(ms: number): string {
  const d = new Date(ms);
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`
  );
}

/** Epoch milliseconds as a PBS job comment gives a time, local time: `Wed Dec 02 at 08:03`. */
export function commentTime(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${p2(d.getDate())} at ${p2(d.getHours())}:${p2(d.getMinutes())}`;
}

/** The comment PBS sets when a job starts: `Job run at Wed Dec 02 at 08:03 on (n1:ncpus=1)`. */
export function runComment(ms: number, execVnode: string | undefined): string {
  return `Job run at ${commentTime(ms)}${execVnode ? ` on ${execVnode}` : ""}`;
}

/** Epoch milliseconds as tracejob prints an event's time, local time: `12/02/2026 08:03:41`. */
export function traceTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${p2(d.getMonth() + 1)}/${p2(d.getDate())}/${d.getFullYear()} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`
  );
}
