/**
 * PBS job mail (pure): the `-m` mail points and `-M` address list as qsub and the server check
 * them, and the messages the server sends, in OpenPBS's svr_mail.c format.
 */
import { PbsParseError } from "../errors.js";

/** A mail event: b = begun, e = ended, a = aborted (PBS's MAIL_BEGIN, MAIL_END, MAIL_ABORT). */
export type MailEvent = "a" | "b" | "e";

/**
 * `-m` syntax (any of a, b, e, j once each, or n). Whether this site can send it is the
 * server's question (checkMailSupport).
 */
export function parseMailPoints(v: string): string {
  if (!/^(n|[abej]+)$/.test(v) || new Set(v).size !== v.length)
    throw new PbsParseError(`illegal -m value: "${v}" (use any of a, b, e, j once each, or n for none)`);
  return v;
}

/**
 * One `-M` address: user or user@host, strictly (it becomes a sendmail argument: no spaces,
 * quotes, shell or header characters, and no leading `-` that sendmail would read as an option).
 */
const ADDRESS = /^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?$/;

/** `-M user[@host][,user[@host]...]`, each address checked (ADDRESS). */
export function parseMailUsers(v: string): string[] {
  const list = v.split(",");
  for (const a of list) {
    if (a === "") throw new PbsParseError(`illegal -M value: "${v}" (empty address in the list)`);
    if (!ADDRESS.test(a) || a.length > 256)
      throw new PbsParseError(
        `illegal -M value: "${v}" (bad address "${a}": user or user@host, letters, digits and _ . + = - only, not starting with -)`,
      );
  }
  return list;
}

/**
 * The server's check of `-m`/`-M` against what the site can do. `mailer` says why this site
 * cannot send mail (undefined: it can). Without a mailer only `-m n` is accepted (a `-M` list
 * alone would be mailed on abort, PBS's default point: refused too). `j` (mail for each subjob)
 * is not carried out: refused rather than stored and ignored.
 */
export function checkMailOptions(
  o: { mailPoints?: string; mailUsers?: string },
  noMailerReason: string | undefined,
): void {
  if (o.mailPoints !== undefined) parseMailPoints(o.mailPoints);
  if (o.mailUsers !== undefined) parseMailUsers(o.mailUsers);
  if (noMailerReason !== undefined) {
    if (o.mailPoints !== undefined && o.mailPoints !== "n")
      throw new PbsParseError(
        `-m ${o.mailPoints} is not supported by this site: ${noMailerReason}; use -m n, or poll with qstat`,
      );
    if (o.mailUsers !== undefined && o.mailPoints !== "n")
      throw new PbsParseError(
        `-M ${o.mailUsers} is not supported by this site: ${noMailerReason}; drop -M, or give -m n`,
      );
    return;
  }
  if (o.mailPoints?.includes("j"))
    throw new PbsParseError(
      `-m ${o.mailPoints}: mail point j (a mail per subjob) is not supported by metaqueue; use a, b, e for the array job`,
    );
}

/** The mail points a job has: its -m, else PBS's default `a`. */
export function mailPointsOf(extra: Record<string, string> | undefined): string {
  return extra?.Mail_Points ?? "a";
}

/** Who gets a job's mail: its -M list, else its owner (PBS's default). */
export function mailRecipients(extra: Record<string, string> | undefined, owner: string): string[] {
  return extra?.Mail_Users ? parseMailUsers(extra.Mail_Users) : [owner];
}

/**
 * The `mailed` mark of one event of one run: written with the event, in the same conditional
 * write, so a redelivered event (SQS at least once) finds it and sends nothing.
 */
export function mailMark(event: MailEvent, runCount: number): string {
  return `${event}${runCount}`;
}

/** `mailed` with `mark` added (a comma-separated list kept in the job's extra attributes). */
export function withMailMark(mailed: string | undefined, mark: string): string {
  const set = new Set((mailed ?? "").split(",").filter(Boolean));
  set.add(mark);
  return [...set].join(",");
}

export function hasMailMark(mailed: string | undefined, mark: string): boolean {
  return (mailed ?? "").split(",").includes(mark);
}

/** What a job mail says, as OpenPBS's svr_mailowner writes it. */
export interface JobMail {
  to: string[];
  subject: string;
  body: string;
}

/**
 * The message for `event` of job `id`: `text` is the reason (abort) or the end summary lines
 * (end), as PBS appends them. `force`: PBS's MAIL_FORCE (stage-in failure): sent whatever -m says.
 */
export function composeJobMail(
  job: { id: string; name: string },
  event: MailEvent,
  to: string[],
  text?: string,
): JobMail {
  const head = `PBS Job Id: ${job.id}\nJob Name:   ${job.name}\n`;
  const what =
    event === "b"
      ? "Begun execution\n"
      : event === "e"
        ? "Execution terminated\n"
        : "Aborted by PBS Server \n";
  const extra = text ? (text.endsWith("\n") ? text : `${text}\n`) : "";
  return { to, subject: `PBS JOB ${job.id}`, body: `${head}${what}${extra}` };
}

/** The whole message sendmail reads on its stdin (headers, a blank line, the body). */
export function formatMailMessage(from: string, m: JobMail): string {
  return `From: ${from}\nTo: ${m.to.join(", ")}\nSubject: ${m.subject}\nPrecedence: bulk\n\n${m.body}`;
}
