/** User and group names. */

/** A user or group name as PBS and POSIX accept it: nothing that could be a path or a shell word. */
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export function isValidName(s: unknown): s is string {
  return typeof s === "string" && NAME_RE.test(s);
}
