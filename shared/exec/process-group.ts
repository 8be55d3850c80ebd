/**
 * A job's process group, read and signalled the way a MOM needs it: the launcher leads the
 * group, so the whole job (and every descendant that did not setsid away) is `-pgid`. Usage is
 * summed from /proc over the group's live members; whether the group still runs is answered
 * from /proc too, because a zombie still answers kill(-pgid, 0).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

let clkTck: number | undefined;
function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      const n = Number.parseInt(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim(), 10);
      clkTck = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface GroupSample {
  /** CPU seconds: utime+stime+cutime+cstime summed over the group's live processes */
  cpu: number;
  /** bytes: summed VmRSS */
  rss: number;
  /** pids seen in the group */
  pids: number[];
}

/** Parse /proc/<pid>/stat: fields after the command name, which may contain spaces and ')'. */
function parseStat(text: string): { state: string; pgrp: number; ticks: number } | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state): pgrp is field 5, utime..cstime are fields 14..17
  const pgrp = Number(f[2]);
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  if (!Number.isFinite(pgrp) || !Number.isFinite(ticks)) return undefined;
  return { state: f[0], pgrp, ticks };
}

/** Sum CPU time and resident memory of every process whose process group is `pgid`. */
export async function sampleProcessGroup(pgid: number): Promise<GroupSample> {
  const out: GroupSample = { cpu: 0, rss: 0, pids: [] };
  let entries: string[];
  try {
    entries = await fs.promises.readdir("/proc");
  } catch {
    return out;
  }
  let ticks = 0;
  await Promise.all(
    entries.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      try {
        const st = parseStat(await fs.promises.readFile(`/proc/${name}/stat`, "utf8"));
        if (!st || st.pgrp !== pgid) return;
        ticks += st.ticks;
        out.pids.push(Number(name));
        const status = await fs.promises.readFile(`/proc/${name}/status`, "utf8");
        const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(status);
        if (m) out.rss += Number(m[1]) * 1024;
      } catch {
        // the process ended between readdir and read
      }
    }),
  );
  out.cpu = ticks / clockTicks();
  return out;
}

export function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }
  fds.length = 0;
}

export function killGroup(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // group already gone
  }
}

/**
 * Whether anything of group `pgid` is left, zombies included (kill(-pgid, 0)): false means the
 * group is empty, true that it may still run (groupExists tells a zombie from a live one).
 */
export function groupAnswers(pgid: number): boolean {
  if (pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    // EPERM: someone is there (not ours to signal)
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether a process of group `pgid` still runs. kill(-pgid, 0) alone is not enough: a KILLed
 * grandchild that its new parent has not reaped yet is a zombie that still answers it (in a
 * container whose PID 1 never reaps, for ever), so a positive answer is checked in /proc.
 */
export function groupExists(pgid: number): boolean {
  if (pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return true;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = parseStat(fs.readFileSync(`/proc/${name}/stat`, "utf8"));
      if (st && st.pgrp === pgid && st.state !== "Z" && st.state !== "X") return true;
    } catch {
      // ended between readdir and read
    }
  }
  return false;
}
