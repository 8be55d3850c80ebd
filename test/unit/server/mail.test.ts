/**
 * Job mail (shared/server/mail.ts) over the in-memory site with a recording mailer: the right
 * events mail the right people once each, though SQS delivers an obituary twice; a site without
 * a mailer refuses -m/-M; the message is PBS's (svr_mail.c).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { deleteJob } from "../../../shared/server/ops.js";
import type { Mailer } from "../../../shared/ports/index.js";
import { composeJobMail, formatMailMessage, parseMailUsers } from "../../../shared/pbs/mail.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

class RecordingMailer implements Mailer {
  readonly from = "adm";
  sent: { to: string[]; message: string }[] = [];
  async send(to: string[], message: string): Promise<void> {
    this.sent.push({ to, message });
  }
  subjects(): string[] {
    return this.sent.map((m) => m.message.split("\n\n")[1].split("\n").slice(2).join("|"));
  }
}

let s: MemorySite;
let mail: RecordingMailer;
beforeEach(async () => {
  s = await memorySite();
  mail = new RecordingMailer();
  s.ctx.mailer = mail;
});

/** Deliver every waiting event twice (SQS at-least-once). */
function duplicateEvents(): void {
  for (const m of s.bus.peek("events")) void s.bus.send("events", [m], "duplicate");
}

describe("job mail", () => {
  it("-m be: one begin and one end mail to the -M list, though the obituary comes twice", async () => {
    const j = await startJob(s, "alice", "true\n", { mailPoints: "be", mailUsers: "alice@example.org,bob" });
    expect(mail.sent).toHaveLength(1);
    await s.obit(j.id, { exitStatus: 3, walltime: 5 });
    duplicateEvents();
    await s.settle();
    await s.obit(j.id, { exitStatus: 3, walltime: 5 });
    await s.settle();
    expect(mail.sent).toHaveLength(2);
    expect(mail.sent.map((m) => m.to)).toEqual([
      ["alice@example.org", "bob"],
      ["alice@example.org", "bob"],
    ]);
    expect(mail.sent[0].message).toContain(`Subject: PBS JOB ${j.id}\n`);
    expect(mail.sent[0].message).toContain(
      `\n\nPBS Job Id: ${j.id}\nJob Name:   ${j.name}\nBegun execution\n`,
    );
    expect(mail.sent[1].message).toMatch(/\nExecution terminated\nExit_status=3\nresources_used.cput=/);
    expect((await s.job(j.id)).extra?.mailed).toBe("b1,e1");
  });

  it("the default (-m a, to the owner) mails nothing on a normal end", async () => {
    const j = await startJob(s, "alice", "true\n");
    await s.obit(j.id, { exitStatus: 0, walltime: 1 });
    await s.settle();
    expect(mail.sent).toEqual([]);
  });

  it("qdel of a running job mails the abort once to the owner, even when asked twice", async () => {
    const j = await startJob(s, "alice", "sleep 60\n", { mailPoints: "a" });
    await deleteJob(s.ctx, j.id, s.actor("alice"));
    await deleteJob(s.ctx, j.id, s.actor("alice"));
    await s.obit(j.id, { exitStatus: 271, walltime: 1, killedFor: "qdel" });
    duplicateEvents();
    await s.settle();
    expect(mail.sent).toHaveLength(1);
    expect(mail.sent[0].to).toEqual(["alice"]);
    expect(mail.sent[0].message).toContain("Aborted by PBS Server \nJob deleted at request of alice\n");
  });

  it("qdel -W suppress_email past its count (nomail): the job is deleted, its abort not mailed", async () => {
    const j = await startJob(s, "alice", "sleep 60\n", { mailPoints: "a" });
    await deleteJob(s.ctx, j.id, s.actor("alice"), { nomail: true });
    await s.obit(j.id, { exitStatus: 271, walltime: 1, killedFor: "qdel" });
    await s.settle();
    expect(mail.sent).toEqual([]);
    expect((await s.job(j.id)).state).toBe("F");
  });

  it("a stage-in failure is mailed even with -m n (PBS's MAIL_FORCE), once", async () => {
    const j = await startJob(s, "alice", "true\n", {
      mailPoints: "n",
      attributes: { stagein: "/tmp/x@localhost:/tmp/y" },
    });
    const comment = "File stage in failed: /tmp/y: No such file or directory";
    await s.obit(j.id, { exitStatus: -1, walltime: 0, comment, stageinFailed: true });
    duplicateEvents();
    await s.settle();
    expect(mail.subjects()).toEqual([`Aborted by PBS Server |Job held: ${comment}|`]);
  });

  it("an array mails its own begin and end once (not one per subjob)", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-2", mailPoints: "be" });
    await s.settle();
    expect((await s.job(id)).state).toBe("B");
    const sub = (i: number) => id.replace("[]", `[${i}]`);
    for (const i of [1, 2]) {
      await s.obit(sub(i), { exitStatus: 0, walltime: 1 });
      duplicateEvents();
      await s.settle();
    }
    expect((await s.job(id)).state).toBe("F");
    expect(mail.subjects()).toEqual(["Begun execution|", "Execution terminated|Exit_status=0|"]);
  });

  it("a site without a mailer refuses -m e and -M with the reason", async () => {
    s.ctx.mailer = undefined;
    await expect(s.submit("alice", "true\n", { mailPoints: "e" })).rejects.toThrow(
      /-m e is not supported by this site: it sends no mail/,
    );
    await expect(s.submit("alice", "true\n", { mailUsers: "a@x.org" })).rejects.toThrow(/-M a@x.org/);
    await expect(s.submit("alice", "true\n", { mailPoints: "n" })).resolves.toBeTruthy();
  });
});

describe("mail text and addresses", () => {
  it("formats as svr_mail.c", () => {
    const m = composeJobMail({ id: "7.casper", name: "run" }, "a", ["u"], "Job deleted");
    expect(formatMailMessage("adm", m)).toBe(
      "From: adm\nTo: u\nSubject: PBS JOB 7.casper\nPrecedence: bulk\n\nPBS Job Id: 7.casper\nJob Name:   run\nAborted by PBS Server \nJob deleted\n",
    );
  });

  it.each(["-oQ", "a b", "a'b", 'a"b', "a;b", "a@-x", "a@b c", "a\nb", "$(x)"])("refuses %j", (a) => {
    expect(() => parseMailUsers(a)).toThrow(/illegal -M value/);
  });

  it("takes user and user@host lists", () => {
    expect(parseMailUsers("alice,bob@mail.example.org")).toEqual(["alice", "bob@mail.example.org"]);
  });
});
