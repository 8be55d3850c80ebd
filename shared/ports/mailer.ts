/**
 * Mail out of the system (PBS -m/-M job mail). The local runtime plugs in the host's sendmail
 * (shared/adapters/mail/sendmail.ts); on AWS there is none, and the context has no mailer.
 */
export interface Mailer {
  /** envelope sender */
  readonly from: string;
  /** Hand one message to the transport; rejects with the reason when it refuses it. */
  send(to: string[], message: string): Promise<void>;
}
