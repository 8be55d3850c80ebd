import { describe, expect, it } from "vitest";
import {
  isPbsErrorName,
  PBS_ERRORS,
  pbsErrorName,
  pbsExitOf,
  pbsExitStatus,
} from "../../../shared/pbs/errno.js";

describe("the PBS error table", () => {
  it("holds OpenPBS's numbers (pbs_error.h) and exits pbs_errno & 0xff", () => {
    // numbers copied from OpenPBS src/include/pbs_error.h, exits computed by hand
    const expected: Record<string, [number, number]> = {
      UNKJOBID: [15001, 153],
      IVALREQ: [15004, 156],
      PERM: [15007, 159],
      SYSTEM: [15010, 162],
      BADATVAL: [15014, 166],
      BADSTATE: [15016, 168],
      UNKQUE: [15018, 170],
      QUNOENB: [15021, 173],
      NOSUP: [15029, 181],
      EXCQRESC: [15036, 188],
      QUENODFLT: [15037, 189],
      NORERUN: [15038, 190],
      BADDEPEND: [15054, 206],
      MaxArraySize: [15107, 3],
      HISTJOBID: [15139, 35],
      JOBSCRIPTMAXSIZE: [15175, 71],
    };
    for (const [name, [errno, exit]] of Object.entries(expected)) {
      expect(isPbsErrorName(name), name).toBe(true);
      if (!isPbsErrorName(name)) continue;
      expect(PBS_ERRORS[name].errno, name).toBe(errno);
      expect(pbsExitOf(name), name).toBe(exit);
      expect(pbsErrorName(errno)).toBe(name);
    }
  });

  it("never lists a number whose exit status would read as success", () => {
    // pbs_error.h: "do not use a number if number%256=0" (the command would exit 0)
    for (const [name, e] of Object.entries(PBS_ERRORS)) expect(pbsExitStatus(e.errno), name).not.toBe(0);
    const numbers = Object.values(PBS_ERRORS).map((e) => e.errno);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it("has PBS's texts for the errors users see most", () => {
    expect(PBS_ERRORS.UNKJOBID.text).toBe("Unknown Job Id");
    expect(PBS_ERRORS.UNKQUE.text).toBe("Unknown queue");
    expect(PBS_ERRORS.EXCQRESC.text).toBe("Job violates queue and/or server resource limits");
    expect(PBS_ERRORS.HISTJOBID.text).toBe("Job has finished");
    expect(pbsErrorName(15999)).toBeUndefined();
    expect(isPbsErrorName("toString")).toBe(false);
  });
});
