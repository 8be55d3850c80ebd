/**
 * How a job's top shell starts: which shell (`-S` for this host, else the owner's login shell),
 * in which directory (home as a login shell, or PBS_O_WORKDIR), and the umask text the
 * launcher applies first.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { asUser, lookupOsUser, type OsUser } from "../auth/os-user.js";
import { pickShell } from "../pbs/job-start.js";
import type { JobRunSpec } from "../ports/index.js";

/** `-W umask` as the shell's umask builtin takes it. */
export function umaskText(mask: number): string {
  return (mask & 0o777).toString(8).padStart(4, "0");
}

/** Shells that take `-c 'exec "$0" "$@"' script` (used to honour a script's `#!` after login). */
const POSIX_SHELLS = new Set(["sh", "bash", "dash", "ksh", "ksh93", "mksh", "zsh"]);

export interface TopShell {
  /** the directory the job starts in */
  cwd: string;
  /** argv[0] of the top shell: `-name` makes it a login shell; undefined = no login */
  argv0?: string;
  login: boolean;
  /** the top shell's path (what an interactive job runs on its terminal) */
  shell: string;
  /** the command (after the launcher) that runs the script at `scriptPath` */
  command(scriptPath: string): string[];
}

/**
 * How the job starts, as a PBS MOM starts it (OpenPBS set_shell/start_process): the top shell
 * is the `-S` entry for this host, else the one without a host, else the owner's login shell;
 * with `home-login` (the default) it starts in the owner's home directory as a login shell
 * (argv[0] `-bash`), so /etc/profile, ~/.bash_profile and `module` work; with `workdir` it
 * starts in PBS_O_WORKDIR, and a script without `-S` runs by its `#!` line or else bash.
 * A `-S` shell that does not exist (or cannot be run) on this host fails the job.
 */
export function topShell(spec: JobRunSpec, account: OsUser | undefined): TopShell | { refused: string } {
  const host = spec.execHost || os.hostname();
  let chosen: string | undefined;
  try {
    chosen = pickShell(spec.shellPaths, host);
  } catch (e) {
    return { refused: `job failed: ${errMsg(e)}` };
  }
  if (chosen !== undefined) {
    let ok = false;
    try {
      const st = asUser(account, () => fs.statSync(chosen as string));
      ok = st.isFile() && (st.mode & 0o111) !== 0;
    } catch {
      ok = false;
    }
    if (!ok)
      return {
        refused: `job failed: shell ${chosen} (Shell_Path_List) does not exist or is not executable on ${host}`,
      };
  }
  const shebang = spec.script.startsWith("#!");
  if (spec.start === "workdir") {
    return {
      cwd: spec.workdir,
      login: false,
      shell: chosen ?? loginShellOf(account ?? lookupOsUser(os.userInfo().username)),
      command: (sc) => (chosen ? [chosen, sc] : shebang ? [sc] : ["/bin/bash", sc]),
    };
  }
  const me = account ?? lookupOsUser(os.userInfo().username);
  const home = account?.home ?? spec.env.HOME ?? me?.home ?? os.homedir();
  const shell = chosen ?? loginShellOf(me);
  const name = path.basename(shell);
  return {
    cwd: home,
    argv0: `-${name}`,
    login: true,
    shell,
    // a script's own `#!` still decides its interpreter when no -S is given: the login shell
    // reads the profiles, then execs the script
    command: (sc) =>
      !chosen && shebang && POSIX_SHELLS.has(name) ? [shell, "-c", 'exec "$0" "$@"', sc] : [shell, sc],
  };
}

/** The account's login shell if it can run one (not nologin/false), else bash. */
function loginShellOf(u: OsUser | undefined): string {
  const sh = u?.shell;
  if (!sh || !path.isAbsolute(sh) || /\/(nologin|false)$/.test(sh)) return "/bin/bash";
  try {
    fs.accessSync(sh, fs.constants.X_OK);
    return sh;
  } catch {
    return "/bin/bash";
  }
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
