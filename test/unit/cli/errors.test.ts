/**
 * A refusal's PBS exit status survives the trip server -> JSON body -> CLI: the server names
 * the PBS error, the client exits pbs_errno & 0xff.
 */
import { describe, expect, it } from "vitest";
import { errorResult } from "../../../shared/api/routes.js";
import {
  InvalidStateError,
  type MetaqueueError,
  NotFoundError,
  RejectedError,
  UnauthorizedError,
} from "../../../shared/errors.js";
import { errorFromBody } from "../../../cli/src/api-client.js";

function roundTrip(err: MetaqueueError): { body: Record<string, unknown>; exit: number; message: string } {
  const r = errorResult(err);
  const body = JSON.parse(String(r.body));
  const back = errorFromBody(r.statusCode ?? 0, body);
  return { body: body.error, exit: back.exitCode, message: back.message };
}

describe("PBS exit codes from server to command", () => {
  it("names the PBS error in the body and the command exits with its low byte", () => {
    const cases: Array<[MetaqueueError, string, number, number]> = [
      [new NotFoundError("Unknown Job Id 12.casper"), "PBSE_UNKJOBID", 15001, 153],
      [new NotFoundError("Unknown queue nosuch", "UNKQUE"), "PBSE_UNKQUE", 15018, 170],
      [new RejectedError("UnknownQueue", "Unknown queue nosuch"), "PBSE_UNKQUE", 15018, 170],
      [
        new RejectedError("ExceedsQueueLimit", "Job violates queue and/or server resource limits"),
        "PBSE_EXCQRESC",
        15036,
        188,
      ],
      [new RejectedError("QueueDisabled", "Queue q is not enabled"), "PBSE_QUNOENB", 15021, 173],
      [new RejectedError("BadDependency", "bad"), "PBSE_BADDEPEND", 15054, 206],
      [new InvalidStateError("Job has finished 3.casper", "HISTJOBID"), "PBSE_HISTJOBID", 15139, 35],
      [new InvalidStateError("Request invalid for state of job 3.casper"), "PBSE_BADSTATE", 15016, 168],
      [new UnauthorizedError("Unauthorized Request  3.casper"), "PBSE_PERM", 15007, 159],
    ];
    for (const [err, name, errno, exit] of cases) {
      const r = roundTrip(err);
      expect(r.body, err.message).toMatchObject({ pbsError: name, pbsErrno: errno, exitCode: exit });
      expect(r.exit, err.message).toBe(exit);
      expect(r.message).toBe(err.message);
    }
  });

  it("follows the number over a stale exitCode, and keeps exitCode where PBS has no error", () => {
    const body = { error: { code: "Whatever", message: "m", exitCode: 1, pbsErrno: 15018 } };
    expect(errorFromBody(400, body).exitCode).toBe(170);
    // a PBS error this client does not list yet: still pbs_errno & 0xff
    expect(errorFromBody(400, { error: { code: "X", message: "m", pbsErrno: 15085 } }).exitCode).toBe(
      15085 & 0xff,
    );
    const none = roundTrip(new RejectedError("BadAlter", "use qmove to change a job's queue"));
    expect(none.body.pbsErrno).toBeUndefined();
    expect(none.exit).toBe(1);
  });
});

describe("odd answers", () => {
  it("an error code named like an Object method is just an unknown code", () => {
    const e = errorFromBody(400, { error: { code: "toString", message: "m" } });
    expect(e.exitCode).toBe(1);
    expect(e.pbs).toBeUndefined();
  });
});
