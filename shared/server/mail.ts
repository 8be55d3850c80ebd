/**
 * Job mail from the server (PBS -m/-M): which event mails whom, marked once per event and run.
 *
 * Once only despite SQS's at-least-once delivery: the caller adds the event's mark to the job's
 * `mailed` attribute in the same conditional write that records the event (markMail), and sends
 * only when that write succeeded and added the mark (mailIfMarked). A redelivered message finds
 * the event already written, writes nothing, and mails nothing. At most once, then: a crash
 * between the write and the send loses that mail, which is what PBS does too (it mails after
 * the fact, with no retry).
 */
import {
  composeJobMail,
  formatMailMessage,
  hasMailMark,
  mailMark,
  mailPointsOf,
  mailRecipients,
  type MailEvent,
  withMailMark,
} from "../pbs/mail.js";
import type { SiteContext } from "./context.js";
import type { JobRecord } from "./job.js";

/** Why a context without a mailer sends no mail (the refusal's reason at qsub and qalter). */
export function noMailerReason(ctx: Pick<SiteContext, "mailer">): string | undefined {
  return ctx.mailer
    ? undefined
    : "it sends no mail (no sendmail on the server host; a site on AWS has no mailer)";
}

/**
 * Whether `job` wants mail for `event` (its -m, PBS's default `a`), or must get it (`force`:
 * PBS's MAIL_FORCE, a stage-in failure). Subjobs send none: j is refused, and the array's own
 * mail is not carried out for subjobs.
 */
function wants(job: JobRecord, event: MailEvent, force: boolean): boolean {
  if (job.parentKey) return false;
  const points = mailPointsOf(job.extra);
  return force || (points !== "n" && points.includes(event));
}

/**
 * `after` with the mark of `event` for its run, when the site mails and the job wants it: put in
 * the same write that records the event. Unchanged otherwise.
 */
export function markMail(
  ctx: Pick<SiteContext, "mailer">,
  after: JobRecord,
  event: MailEvent,
  opts: { force?: boolean; runCount?: number } = {},
): JobRecord {
  if (!ctx.mailer || !wants(after, event, opts.force ?? false)) return after;
  const mark = mailMark(event, opts.runCount ?? after.runCount);
  const mailed = after.extra?.mailed;
  if (hasMailMark(mailed, mark)) return after;
  return { ...after, extra: { ...after.extra, mailed: withMailMark(mailed, mark) } };
}

/**
 * Send the mail of `event` when the write from `before` to `after` (which succeeded) added its
 * mark: the one delivery that recorded the event. Never throws: a mail that cannot be sent is
 * logged, the job goes on.
 */
export async function mailIfMarked(
  ctx: SiteContext,
  before: JobRecord | undefined,
  after: JobRecord | undefined,
  event: MailEvent,
  text?: string,
  runCount?: number,
): Promise<void> {
  if (!ctx.mailer || !after) return;
  const mark = mailMark(event, runCount ?? after.runCount);
  if (!hasMailMark(after.extra?.mailed, mark) || hasMailMark(before?.extra?.mailed, mark)) return;
  try {
    const m = composeJobMail(after, event, mailRecipients(after.extra, after.user), text);
    await ctx.mailer.send(m.to, formatMailMessage(ctx.mailer.from, m));
    ctx.metrics?.count("MailsSent", 1, { event });
  } catch (err) {
    ctx.metrics?.count("MailsFailed", 1, { event });
    ctx.log.warn(`mail (${event}) for ${after.id} not sent: ${(err as Error).message}`);
  }
}
