import { afterEach, describe, expect, it } from "vitest";
import { commentTime, ctime, runComment, traceTime } from "../../../shared/pbs/time.js";

// vitest.config.ts pins TZ=UTC for every test; the local-time test below moves it and puts it back.
const pinned = process.env.TZ;
afterEach(() => {
  process.env.TZ = pinned;
});

describe("PBS times", () => {
  const at = Date.UTC(2026, 11, 2, 8, 3, 41); // Wed 2 Dec 2026 08:03:41 UTC

  it("ctime is ctime(3) without the newline: the day padded with a space", () => {
    expect(ctime(at)).toBe("Wed Dec  2 08:03:41 2026");
    expect(ctime(Date.UTC(2025, 2, 13, 14, 5, 6))).toBe("Thu Mar 13 14:05:06 2025");
  });

  it("a job's run comment is strftime %a %b %d at %H:%M then the vnodes, as OpenPBS's server", () => {
    expect(commentTime(at)).toBe("Wed Dec 02 at 08:03");
    expect(runComment(at, "(n1:ncpus=1)")).toBe("Job run at Wed Dec 02 at 08:03 on (n1:ncpus=1)");
    expect(runComment(at, undefined)).toBe("Job run at Wed Dec 02 at 08:03");
  });

  it("tracejob's time is %m/%d/%Y %H:%M:%S", () => {
    expect(traceTime(at)).toBe("12/02/2026 08:03:41");
  });

  it("follows the local time of the process, as PBS's localtime(3)", () => {
    expect(pinned).toBe("UTC");
    process.env.TZ = "Asia/Tokyo"; // UTC+9, no daylight saving
    expect(ctime(at)).toBe("Wed Dec  2 17:03:41 2026");
    expect(commentTime(Date.UTC(2026, 11, 2, 20, 0, 0))).toBe("Thu Dec 03 at 05:00");
    expect(traceTime(at)).toBe("12/02/2026 17:03:41");
  });
});
