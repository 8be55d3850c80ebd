import { beforeAll, describe, expect, it } from "vitest";
import type { JobView, NodeView, QueueView } from "../../../shared/api/views.js";
import {
  cnvSize,
  ctimeString,
  pbsnodesSummary,
  pbsnodesText,
  prtAttr,
  qstatAltTable,
  qstatFull,
  qstatJson,
  qstatTable,
  queueTable,
  serverFull,
  serverTable,
  tracejobText,
  trunc,
} from "../../../cli/src/format.js";

beforeAll(() => {
  process.env.TZ = "UTC";
});

const T0 = Date.UTC(2025, 1, 20, 10, 0, 5) / 1000; // Thu Feb 20 10:00:05 2025

const running: JobView = {
  id: "123.casper",
  attributes: {
    Job_Name: "hello",
    Job_Owner: "alice@login1.example.org",
    resources_used: { cput: "00:01:02", walltime: "00:10:00", mem: "1024kb", ncpus: 1 },
    job_state: "R",
    queue: "casper",
    ctime: T0,
    exec_host: "node01/0*2",
    Resource_List: { mem: "4gb", ncpus: 2, nodect: 1, select: "1:ncpus=2:mem=4gb", walltime: "01:00:00" },
    session_id: 4242,
    Variable_List: { PBS_O_HOME: "/home/alice", PBS_O_WORKDIR: "/home/alice/run" },
    Rerunable: true,
  },
};

const queued: JobView = {
  id: "1234567890123[].casper.example.org",
  attributes: {
    Job_Name: "a_rather_long_job_name",
    Job_Owner: "averyveryverylongusername@host",
    job_state: "Q",
    queue: "a_very_long_queue_name@casper",
  },
};

describe("qstatTable", () => {
  it("prints the OpenPBS default display", () => {
    expect(qstatTable([running])).toBe(
      "Job id            Name             User              Time Use S Queue\n" +
        "----------------  ---------------- ----------------  -------- - -----\n" +
        "123.casper        hello            alice             00:01:02 R casper          \n",
    );
  });

  it("truncates with * and shows 0 without cput", () => {
    const line = qstatTable([queued], false);
    // id cut at the server's first component, then to 17 with *; name >= 16 -> 15 + *
    expect(line).toBe("1234567890123[].* a_rather_long_j* averyveryverylo*         0 Q a_very_long_que*\n");
  });

  it("prints nothing for no jobs", () => {
    expect(qstatTable([])).toBe("");
  });

  it("truncates a 16-character name (PBS truncates at >= 16)", () => {
    const j: JobView = { id: "1.s", attributes: { Job_Name: "exactly16chars__", job_state: "Q" } };
    expect(qstatTable([j], false).slice(18, 34)).toBe("exactly16chars_*");
  });
});

describe("qstatFull", () => {
  it("prints attr = value, nested maps as Parent.child, Variable_List PBS style", () => {
    const out = qstatFull([running]);
    expect(
      out.startsWith("Job Id: 123.casper\n    Job_Name = hello\n    Job_Owner = alice@login1.example.org\n"),
    ).toBe(true);
    expect(out).toContain("    resources_used.cput = 00:01:02\n");
    expect(out).toContain("    Resource_List.ncpus = 2\n");
    expect(out).toContain("    ctime = Thu Feb 20 10:00:05 2025\n");
    expect(out).toContain("    Variable_List = PBS_O_HOME=/home/alice,PBS_O_WORKDIR=/home/alice/run\n");
    expect(out).toContain("    Rerunable = True\n");
    expect(out.endsWith("Rerunable = True\n\n")).toBe(true);
  });

  it("wraps long values at commas like OpenPBS prt_attr", () => {
    const value = Array.from({ length: 8 }, (_, i) => `VARIABLE_${i}=/some/long/path/${i}`).join(",");
    const text = prtAttr("Variable_List", undefined, value);
    const lines = text.split("\n");
    expect(lines[0].startsWith("    Variable_List = VARIABLE_0=/some/long/path/0,")).toBe(true);
    for (const l of lines.slice(1)) expect(l.startsWith("\t")).toBe(true);
    for (const l of lines) expect(l.replace("\t", "        ").length).toBeLessThanOrEqual(80);
    expect(text.replace(/\n\t/g, "")).toBe(`    Variable_List = ${value}`);
  });

  it("one-line mode does not wrap", () => {
    const value = "x".repeat(200);
    expect(prtAttr("comment", undefined, value, true)).toBe(`    comment = ${value}`);
  });
});

describe("qstatJson", () => {
  it("has the OpenPBS shape", () => {
    const doc = JSON.parse(qstatJson([running], { serverName: "casper-pbs", now: 1700000000 }));
    expect(doc.timestamp).toBe(1700000000);
    expect(doc.pbs_version).toBe("metaqueue-0.1.0");
    expect(doc.pbs_server).toBe("casper-pbs");
    expect(doc.Jobs["123.casper"].Job_Name).toBe("hello");
    expect(doc.Jobs["123.casper"].Resource_List.ncpus).toBe(2);
    expect(doc.Jobs["123.casper"].ctime).toBe("Thu Feb 20 10:00:05 2025");
  });
  it("omits Jobs when there are none", () => {
    expect(JSON.parse(qstatJson([], { serverName: "s", now: 1 })).Jobs).toBeUndefined();
  });
});

describe("qstatAltTable", () => {
  it("prints the -a display", () => {
    const out = qstatAltTable([running], { serverName: "casper-pbs", nodes: true });
    expect(out).toBe(
      "\ncasper-pbs: \n" +
        `${" ".repeat(60)}Req'd  Req'd   Elap\n` +
        "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n" +
        "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n" +
        "123.casper      alice    casper   hello        4242   1   2    4gb 01:00 R 00:10\n" +
        "   node01/0*2\n",
    );
  });
  it("uses -- for missing values", () => {
    const out = qstatAltTable([queued], { serverName: "s", header: false });
    expect(out).toBe("1234567890123[* averyve* a_very_* a_rather_*    --   --  --    --    --  Q   -- \n");
  });
});

describe("sizes and times", () => {
  it("cnvSize", () => {
    expect(cnvSize("4gb")).toBe("4gb");
    expect(cnvSize("1048576kb")).toBe("1024mb");
    expect(cnvSize("20000mb")).toBe("20gb");
    expect(cnvSize(4 * 1024 ** 3)).toBe("4096mb");
  });
  it("ctimeString pads the day with a space", () => {
    expect(ctimeString(Date.UTC(2025, 2, 3, 4, 5, 6) / 1000)).toBe("Mon Mar  3 04:05:06 2025");
  });
  it("trunc", () => {
    expect(trunc("abcdef", 4)).toBe("abc*");
    expect(trunc("abcd", 4)).toBe("abcd");
  });
});

const queues: QueueView[] = [
  {
    name: "casper",
    attributes: {
      queue_type: "Execution",
      total_jobs: 3,
      state_count: "Transit:0 Queued:1 Held:1 Waiting:0 Running:1 Exiting:0 Begun:0 ",
      enabled: true,
      started: "True",
      max_running: 100,
    },
  },
  {
    name: "routing_queue_long_name",
    attributes: { queue_type: "Route", enabled: false, started: false, state_count: { Queued: 123456 } },
  },
];

describe("queueTable", () => {
  it("prints the OpenPBS -Q display", () => {
    expect(queueTable(queues)).toBe(
      "Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type\n" +
        "---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----\n" +
        "casper             100     3 yes yes     1     1     1     0     0     0 Exe*\n" +
        "routing_queue_l*     0     0  no  no 1234*     0     0     0     0     0 Rou*\n",
    );
  });
});

describe("serverTable / serverFull", () => {
  const server = {
    name: "casper-pbs",
    attributes: {
      server_state: "Active",
      total_jobs: 2,
      state_count: "Transit:0 Queued:1 Held:0 Waiting:0 Running:1 Exiting:0 Begun:0",
      default_queue: "casper",
    },
  };
  it("prints the -B display", () => {
    expect(serverTable([server])).toBe(
      "Server             Max   Tot   Que   Run   Hld   Wat   Trn   Ext Status\n" +
        "---------------- ----- ----- ----- ----- ----- ----- ----- ----- -----------\n" +
        "casper-pbs           0     2     1     1     0     0     0     0 Active    \n",
    );
  });
  it("prints -Bf", () => {
    const out = serverFull([server], true);
    expect(out).toBe(
      "Server: casper-pbs\n    server_state = Active\n    total_jobs = 2\n" +
        "    state_count = Transit:0 Queued:1 Held:0 Waiting:0 Running:1 Exiting:0 Begun:0\n" +
        "    default_queue = casper\n\n",
    );
  });
});

const nodes: NodeView[] = [
  {
    name: "node01",
    attributes: {
      Mom: "node01",
      ntype: "PBS",
      state: "job-busy",
      pcpus: 4,
      jobs: "123.casper/0, 123.casper/1",
      resources_available: { arch: "linux", host: "node01", mem: "16gb", ncpus: 4, vnode: "node01" },
      resources_assigned: { mem: "4194304kb", ncpus: 2 },
      resv_enable: true,
      sharing: "default_shared",
      last_state_change_time: T0,
    },
  },
  { name: "node02", attributes: { state: "offline", comment: "maintenance" } },
];

describe("pbsnodes", () => {
  it("prints -a in PBS format", () => {
    const out = pbsnodesText(nodes);
    expect(out.startsWith("node01\n     Mom = node01\n     ntype = PBS\n     state = job-busy\n")).toBe(true);
    expect(out).toContain("     resources_available.ncpus = 4\n");
    expect(out).toContain("     resv_enable = True\n");
    expect(out).toContain("     last_state_change_time = Thu Feb 20 10:00:05 2025\n\nnode02\n");
    expect(out.endsWith("     comment = maintenance\n\n")).toBe(true);
  });
  it("prints -S and -Sj summaries", () => {
    const s = pbsnodesSummary(nodes).split("\n");
    expect(s[2]).toBe(
      "node01          job-busy        --       --       node01          --             16gb       4       0       0 --",
    );
    expect(s[3]).toContain("offline");
    const j = pbsnodesSummary(nodes, true).split("\n");
    expect(j[3]).toBe(
      "node01          job-busy             1     1      0    12gb/16gb     2/4     0/0     0/0 123.casper",
    );
  });
});

describe("tracejobText", () => {
  it("prints the tracejob format, sorted by time", () => {
    const t = Date.UTC(2025, 1, 20, 10, 0, 5);
    const out = tracejobText("123.casper", [
      { time: t + 1000, source: "L", message: "Job run" },
      { time: t, source: "S", message: "enqueuing into casper, state Q hop 1" },
    ]);
    expect(out).toBe(
      "\nJob: 123.casper\n\n" +
        "02/20/2025 10:00:05  S    enqueuing into casper, state Q hop 1\n" +
        "02/20/2025 10:00:06  L    Job run\n",
    );
  });
});

describe("counts past the server's cap (shared/api/counts.ts)", () => {
  it("print as lower bounds in qstat -Q and -B columns", () => {
    const attributes = {
      queue_type: "Execution",
      enabled: "True",
      started: "True",
      server_state: "Active",
      total_jobs: "1000+",
      state_count: "Transit:0+ Queued:996+ Held:0+ Waiting:0+ Running:4+ Exiting:0+ Begun:0+",
    };
    expect(queueTable([{ name: "workq", attributes }], false)).toBe(
      "workq                0 1000+ yes yes  996+    4+    0+    0+    0+    0+ Exe*\n",
    );
    expect(serverTable([{ name: "casper-pbs", attributes }], false)).toBe(
      "casper-pbs           0 1000+  996+    4+    0+    0+    0+    0+ Active    \n",
    );
  });
});
