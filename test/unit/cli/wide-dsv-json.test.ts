/** qstat -w layouts, -F dsv escaping, -F json types and the closed-pipe exit, against OpenPBS qstat.c. */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { JobView } from "../../../shared/api/views.js";
import { dsvText, escapeDelimiter, qstatDsv } from "../../../cli/src/format-dsv.js";
import { QSTAT_WIDE_HEADER, qstatAltTable, qstatTable } from "../../../cli/src/format-jobs.js";
import { qstatJson } from "../../../cli/src/format.js";
import { jsonTypedAttrs, parsedJsonValue } from "../../../cli/src/json-values.js";
import { EXIT_SIGPIPE, exitQuietlyOnClosedPipe } from "../../../cli/src/pipe.js";

const long: JobView = {
  id: "1234567.casper-pbs.example.org",
  attributes: {
    Job_Name: "a_rather_long_job_name",
    Job_Owner: "someone_long_name@login1",
    job_state: "R",
    queue: "a_long_queue_name",
    session_id: "123456789",
    Resource_List: { ncpus: "16", nodect: 2, mem: "4gb", walltime: "01:00:00" },
    resources_used: { cput: "00:01:02", walltime: "00:00:31" },
    exec_host: "n1.example.org/0*8+n2/0*8",
    comment: "x".repeat(120),
  },
};

describe("qstat -w", () => {
  it("default layout: 30-character IDs, names and users to 15 (display_statjob, wide)", () => {
    expect(QSTAT_WIDE_HEADER).toBe(
      "Job id                         Name            User             Time Use S Queue\n" +
        "-----------------------------  --------------- ---------------  -------- - ---------------\n",
    );
    const out = qstatTable([long], true, true).split("\n");
    // %-30s %-15s %-15s  %8s %1s %-15s: name cut at >= 15 (14 + *), user and queue at > 15
    expect(out[2]).toBe(
      `${"1234567.casper-pbs".padEnd(30)} a_rather_long_* someone_long_n*  00:01:02 R a_long_queue_n*`,
    );
    // without -w the same job is cut at PBS's narrow widths
    expect(qstatTable([long], false)).toBe(
      "1234567.casper-p* a_rather_long_j* someone_long_na*  00:01:02 R a_long_queue_na*\n",
    );
  });

  it("alternate layout: header sized like the rows, SIZE*_W widths (altdsp_statjob, wide)", () => {
    const out = qstatAltTable([long], { serverName: "casper-pbs", wide: true, nodes: true, comments: true });
    const lines = out.split("\n");
    expect(lines[0]).toBe("");
    expect(lines[1]).toBe("casper-pbs: ");
    // seven columns and their separators (92 + 7) before the Req'd titles
    expect(lines[2]).toBe(`${" ".repeat(99)}Req'd  Req'd   Elap`);
    expect(lines[3]).toBe(
      "Job ID                         Username        Queue           Jobname         SessID   NDS  TSK   Memory Time  S Time",
    );
    expect(lines[4]).toBe(
      `${"-".repeat(30)} ${"-".repeat(15)} ${"-".repeat(15)} ${"-".repeat(15)} -------- ---- ----- ------ ----- - -----`,
    );
    expect(lines[5]).toBe(
      "1234567.casper-pbs.example.org someone_long_n* a_long_queue_n* a_rather_long_* 1234567*    2    16    4gb 01:00 R 00:00",
    );
    expect(lines[6]).toBe("   n1/0*8+n2/0*8");
    // a comment over 114 characters (-w) is cut to 110 and "..."
    expect(lines[7]).toBe(`   ${"x".repeat(110)}...`);
  });

  it("the normal alternate layout cuts comments over 74 characters to 70 and ...", () => {
    const out = qstatAltTable([long], { serverName: "s", comments: true, header: false });
    expect(out.split("\n")[1]).toBe(`   ${"x".repeat(70)}...`);
    expect(out.split("\n")[0].slice(0, 16)).toBe("1234567.casper* ");
  });
});

describe("qstat -F dsv", () => {
  it("escapes the delimiter and lone backslashes as escape_delimiter() does", () => {
    expect(escapeDelimiter("a|b", "|")).toBe("a\\|b");
    expect(escapeDelimiter("a\\b", "|")).toBe("a\\\\b");
    // a backslash already escaping a comma or quote stays single (Variable_List's \,)
    expect(escapeDelimiter("A=1\\,2", "|")).toBe("A=1\\,2");
    expect(escapeDelimiter("end\\", "|")).toBe("end\\\\");
    expect(escapeDelimiter("x::y:z", "::")).toBe("x\\::y:z");
    expect(escapeDelimiter("x,y", ",")).toBe("x\\,y");
  });

  it("shows feeds as \\n and \\f and other control characters as ^X", () => {
    expect(dsvText("a\nb\fc")).toBe("a\\nb\\fc");
    expect(dsvText("a\u001b[31m")).toBe("a^[[31m");
  });

  it("prints one line per job: Job Id, then name=value items", () => {
    const job: JobView = {
      id: "5.casper",
      attributes: {
        Job_Name: "a|b",
        Resource_List: { ncpus: 2, walltime: "00:10:00" },
        Variable_List: { PBS_O_HOME: "/home/a", X: "1,2" },
      },
    };
    expect(qstatDsv([job], "|")).toBe(
      "Job Id: 5.casper|Job_Name=a\\|b|Resource_List.ncpus=2|Resource_List.walltime=00:10:00|" +
        "Variable_List=PBS_O_HOME=/home/a,X=1\\,2\n",
    );
    expect(qstatDsv([job], ";")).toContain("Job Id: 5.casper;Job_Name=a|b;Resource_List.ncpus=2;");
  });
});

describe("qstat -F json types", () => {
  it("parses each value as cJSON does: JSON on its own, else the text", () => {
    expect(parsedJsonValue("8")).toBe(8);
    expect(parsedJsonValue("-1")).toBe(-1);
    expect(parsedJsonValue("1.5")).toBe(1.5);
    expect(parsedJsonValue("1e3")).toBe(1000);
    expect(parsedJsonValue(" 5 ")).toBe(5);
    expect(parsedJsonValue("007")).toBe(7);
    expect(parsedJsonValue("true")).toBe(true);
    for (const s of ["01:00:00", "4gb", "True", "", "1-2", "+5", "n1/0*2", "Wed Dec  2 08:00:00 2026"])
      expect(parsedJsonValue(s)).toBe(s);
  });

  it("gives numbers as numbers, names as strings, times as ctime text", () => {
    const a = jsonTypedAttrs({
      Job_Name: "123",
      project: "42",
      Exit_status: 0,
      Priority: "5",
      Rerunable: true,
      ctime: 1_700_000_000,
      Resource_List: { ncpus: "8", mem: "4gb", walltime: "01:00:00", nodect: 1 },
      Variable_List: { N: "5", HOME: "/home/a" },
    });
    expect(a.Job_Name).toBe("123");
    expect(a.project).toBe("42");
    expect(a.Exit_status).toBe(0);
    expect(a.Priority).toBe(5);
    expect(a.Rerunable).toBe("True");
    expect(a.ctime).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    expect(a.Resource_List).toEqual({ ncpus: 8, mem: "4gb", walltime: "01:00:00", nodect: 1 });
    expect(a.Variable_List).toEqual({ N: 5, HOME: "/home/a" });
  });

  it("qstat -f -F json carries the types through", () => {
    const doc = JSON.parse(qstatJson([long], { serverName: "casper-pbs", now: 1 }));
    const j = doc.Jobs["1234567.casper-pbs.example.org"];
    expect(j.Resource_List.ncpus).toBe(16);
    expect(j.session_id).toBe(123456789);
    expect(j.Resource_List.walltime).toBe("01:00:00");
  });
});

describe("a closed pipe", () => {
  it("ends the command with SIGPIPE's status and nothing printed", () => {
    const out = new EventEmitter();
    const codes: number[] = [];
    exitQuietlyOnClosedPipe([out], (c) => codes.push(c));
    out.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(codes).toEqual([EXIT_SIGPIPE]);
    expect(() => out.emit("error", Object.assign(new Error("disk"), { code: "EIO" }))).toThrow("disk");
    expect(codes).toEqual([EXIT_SIGPIPE]);
  });
});
