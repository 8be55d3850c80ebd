import { describe, expect, it } from "vitest";
import type {
  JobView,
  NodeView,
  QueueView,
  ServerView,
  SubmitRequest,
  TraceEvent,
} from "../../../shared/api/views.js";
import { InvalidStateError, NotFoundError } from "../../../shared/errors.js";
import type { QsubOptions } from "../../../shared/pbs/types.js";
import type { Api, HoldType, JobQuery } from "../../../cli/src/api-client.js";
import type { ClientConfig, ServerEntry } from "../../../cli/src/config.js";
import { firstOperandIndex } from "../../../cli/src/commands/jobops.js";
import { type Deps, main } from "../../../cli/src/main.js";

const CONFIG: ClientConfig = {
  default: "casper-pbs",
  servers: [
    { name: "casper-pbs", short: "casper", url: "http://casper" },
    { name: "derecho-pbs", short: "derecho", url: "http://derecho" },
  ],
};

type Call = [string, string, ...unknown[]];

class FakeApi implements Api {
  calls: Call[] = [];
  jobs: JobView[] = [
    {
      id: "1.casper",
      attributes: { Job_Name: "one", Job_Owner: "alice@h", job_state: "R", queue: "casper" },
    },
    { id: "2.casper", attributes: { Job_Name: "two", Job_Owner: "bob@h", job_state: "F", queue: "casper" } },
    {
      id: "7.derecho",
      attributes: { Job_Name: "seven", Job_Owner: "alice@h", job_state: "Q", queue: "main" },
    },
  ];
  failDelete = new Set<string>();
  qmgrFail = new Set<string>();
  private find(t: ServerEntry, id: string): JobView {
    const j = this.jobs.find((x) => x.id === id && x.id.endsWith(`.${t.short}`));
    if (!j) throw new NotFoundError(`Unknown Job Id ${id}`);
    return j;
  }
  async getServer(t: ServerEntry): Promise<ServerView> {
    this.calls.push(["getServer", t.name]);
    return { name: t.name, short: t.short, attributes: { server_state: "Active", total_jobs: 1 } };
  }
  async submit(t: ServerEntry, r: SubmitRequest): Promise<string> {
    this.calls.push(["submit", t.name, r]);
    return `99.${t.short}`;
  }
  async submitInteractive(t: ServerEntry, r: SubmitRequest): Promise<{ jobId: string; sessionKey?: string }> {
    this.calls.push(["submitInteractive", t.name, r]);
    return { jobId: `99.${t.short}`, sessionKey: "k" };
  }
  async jobSession(
    t: ServerEntry,
    id: string,
  ): Promise<{ jobId: string; runCount: number; address: string }> {
    this.calls.push(["jobSession", t.name, id]);
    return { jobId: id, runCount: 1, address: "unix:/nonexistent" };
  }
  async listJobs(t: ServerEntry, q: JobQuery = {}): Promise<{ jobs: JobView[]; next?: number }> {
    this.calls.push(["listJobs", t.name, q]);
    return {
      jobs: this.jobs.filter(
        (j) =>
          j.id.endsWith(`.${t.short}`) &&
          (q.history || j.attributes.job_state !== "F") &&
          (!q.queue || j.attributes.queue === q.queue),
      ),
    };
  }
  async getJob(t: ServerEntry, id: string, history?: boolean): Promise<JobView> {
    this.calls.push(["getJob", t.name, id, history]);
    return this.find(t, id);
  }
  async listSubjobs(t: ServerEntry, id: string): Promise<JobView[]> {
    this.calls.push(["listSubjobs", t.name, id]);
    return [];
  }
  async deleteJob(t: ServerEntry, id: string, opts?: { nomail?: boolean }): Promise<void> {
    this.calls.push(["deleteJob", t.name, id, opts]);
    if (this.failDelete.has(id)) throw new InvalidStateError(`Request invalid for state of job ${id}`);
    this.find(t, id);
  }
  async holdJob(t: ServerEntry, id: string, h?: HoldType): Promise<void> {
    this.calls.push(["holdJob", t.name, id, h]);
  }
  async releaseJob(t: ServerEntry, id: string, h?: HoldType): Promise<void> {
    this.calls.push(["releaseJob", t.name, id, h]);
  }
  async rerunJob(t: ServerEntry, id: string): Promise<void> {
    this.calls.push(["rerunJob", t.name, id]);
  }
  async moveJob(t: ServerEntry, id: string, d: string): Promise<void> {
    this.calls.push(["moveJob", t.name, id, d]);
  }
  async runJob(t: ServerEntry, id: string, host?: string): Promise<void> {
    this.calls.push(["runJob", t.name, id, host]);
  }
  async signalJob(t: ServerEntry, id: string, signal: string): Promise<void> {
    this.calls.push(["signalJob", t.name, id, signal]);
  }
  async orderJobs(t: ServerEntry, id: string, other: string): Promise<void> {
    this.calls.push(["orderJobs", t.name, id, other]);
  }
  async alterJob(t: ServerEntry, id: string, o: QsubOptions): Promise<void> {
    this.calls.push(["alterJob", t.name, id, o]);
  }
  async traceJob(t: ServerEntry, id: string): Promise<TraceEvent[]> {
    this.calls.push(["traceJob", t.name, id]);
    return [{ time: Date.UTC(2025, 0, 2, 3, 4, 5), source: "S", message: "Job Queued" }];
  }
  async listQueues(t: ServerEntry): Promise<QueueView[]> {
    this.calls.push(["listQueues", t.name]);
    return [{ name: "casper", attributes: { queue_type: "Execution", enabled: true, started: true } }];
  }
  async getQueue(t: ServerEntry, name: string): Promise<QueueView> {
    this.calls.push(["getQueue", t.name, name]);
    if (name !== "casper") throw new NotFoundError("Unknown queue");
    return { name, attributes: { queue_type: "Execution" } };
  }
  async listNodes(t: ServerEntry): Promise<NodeView[]> {
    this.calls.push(["listNodes", t.name]);
    return [
      { name: "node01", attributes: { state: "free" } },
      { name: "node02", attributes: { state: "offline", comment: "broken" } },
    ];
  }
  async accounting(t: ServerEntry, project?: string) {
    this.calls.push(["accounting", t.name, project ?? ""]);
    return {
      site: t.short,
      allocations: [{ project: "P1", site: t.short, unit: "core-hours" as const, granted: 10, used: 2.5 }],
      usage: [
        { project: "P1", ranAt: t.short, walltimeSeconds: 3600, coreSeconds: 7200 },
        { project: "P1", ranAt: "derecho", walltimeSeconds: 1800, coreSeconds: 1800 },
      ],
    };
  }
  async peers(t: ServerEntry) {
    this.calls.push(["peers", t.name]);
    return {
      site: t.short,
      server: t.name,
      state: "active",
      peers: [
        { site: "derecho", server: "desched1", state: "disconnected", pulls: ["main@desched1 -> casper"] },
      ],
    };
  }
  async qmgr(t: ServerEntry, command: string): Promise<string> {
    this.calls.push(["qmgr", t.name, command]);
    if (this.qmgrFail.has(command)) throw new NotFoundError("Unknown queue");
    return command.startsWith("p") ? "create queue casper\n" : "";
  }
}

interface Run {
  code: number;
  out: string;
  err: string;
  api: FakeApi;
}

async function run(cmd: string, argv: string[], over: Partial<Deps> & { api?: FakeApi } = {}): Promise<Run> {
  const api = over.api ?? new FakeApi();
  let out = "";
  let err = "";
  const deps: Deps = {
    api,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { HOME: "/home/alice", PATH: "/usr/bin:/bin", SHELL: "/bin/bash", LANG: "C.UTF-8", FOO: "bar" },
    cwd: () => "/home/alice/work",
    readFile: async (p: string) => {
      if (p === "job.sh") return "#!/bin/bash\n#PBS -N fromdirective\n#PBS -v FOO\necho hi\n";
      if (p === "routed.sh") return "#PBS -q main@derecho\necho hi\n";
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
    },
    stdin: async () => "echo from stdin\n",
    hostname: () => "login1",
    now: () => 1_700_000_000_000,
    config: CONFIG,
    ...over,
  };
  const code = await main(cmd, argv, deps);
  return { code, out, err, api };
}

describe("qsub", () => {
  it("submits a script file and prints only the job ID", async () => {
    const r = await run("qsub", ["-l", "walltime=1:00:00", "job.sh"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("99.casper\n");
    expect(r.err).toBe("");
    const [, server, req] = r.api.calls[0] as [string, string, SubmitRequest];
    expect(server).toBe("casper-pbs");
    expect(req.scriptName).toBe("job.sh");
    expect(req.script).toContain("echo hi");
    expect(req.submitDir).toBe("/home/alice/work");
    expect(req.submitHost).toBe("login1");
    expect(req.options.resources).toEqual({ walltime: "1:00:00" });
    expect(req.options.name).toBe("fromdirective");
    // -v FOO in a directive resolved from this environment
    expect(req.options.variables).toEqual({ FOO: "bar" });
    expect(req.options.variablesFromEnv).toBeUndefined();
    expect(req.env).toMatchObject({
      PBS_O_HOME: "/home/alice",
      PBS_O_PATH: "/usr/bin:/bin",
      PBS_O_SHELL: "/bin/bash",
      PBS_O_LANG: "C.UTF-8",
      PBS_O_HOST: "login1",
      PBS_O_WORKDIR: "/home/alice/work",
    });
    expect(req.env.FOO).toBeUndefined();
  });

  it("reads stdin without a script (no scriptName) and exports everything with -V", async () => {
    const r = await run("qsub", ["-V", "-v", "FOO,X=1"]);
    const req = r.api.calls[0][2] as SubmitRequest;
    expect(req.script).toBe("echo from stdin\n");
    expect(req.scriptName).toBeUndefined();
    expect(req.env.FOO).toBe("bar");
    expect(req.options.variables).toEqual({ X: "1", FOO: "bar" });
  });

  it("builds a one-line script from -- command", async () => {
    const r = await run("qsub", ["--", "/bin/sleep", "10", "it's"]);
    const req = r.api.calls[0][2] as SubmitRequest;
    expect(req.script).toBe("/bin/sleep 10 'it'\\''s'\n");
    expect(r.out).toBe("99.casper\n");
  });

  it("prints nothing with -z", async () => {
    const r = await run("qsub", ["-z", "job.sh"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
  });

  it("routes -q queue@server and @server to that server", async () => {
    let r = await run("qsub", ["-q", "main@derecho", "job.sh"]);
    expect(r.api.calls[0][1]).toBe("derecho-pbs");
    expect((r.api.calls[0][2] as SubmitRequest).options.queue).toBe("main");
    expect(r.out).toBe("99.derecho\n");
    r = await run("qsub", ["-q", "@derecho-pbs", "job.sh"]);
    expect(r.api.calls[0][1]).toBe("derecho-pbs");
    expect((r.api.calls[0][2] as SubmitRequest).options.queue).toBeUndefined();
    r = await run("qsub", ["routed.sh"]);
    expect(r.api.calls[0][1]).toBe("derecho-pbs");
  });

  it("reports a missing script file", async () => {
    const r = await run("qsub", ["nope.sh"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toBe("qsub: script file:: No such file or directory\n");
    expect(r.api.calls).toEqual([]);
  });

  it("reports bad options from the shared parser", async () => {
    const r = await run("qsub", ["-p", "5000", "job.sh"]);
    expect(r.code).not.toBe(0);
    expect(r.err.startsWith("qsub: ")).toBe(true);
    expect(r.out).toBe("");
  });

  it("reports an unknown server and no configuration", async () => {
    let r = await run("qsub", ["-q", "q@nowhere", "job.sh"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("qsub: Server name unknown: nowhere\n");
    // no list anywhere: not the user's, and not the system-wide one this host may have (/etc)
    r = await run("qsub", ["job.sh"], {
      config: undefined,
      env: {
        HOME: "/nonexistent-home-for-test",
        METAQUEUE_CONF: "/nonexistent-home-for-test/metaqueue.conf",
      },
    });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'qsub: cannot find a metaqueue server: start one with "npm start" or set METAQUEUE_SERVER_URL\n',
    );
  });
});

describe("qstat", () => {
  it("lists unfinished jobs of the default server", async () => {
    const r = await run("qstat", []);
    expect(r.code).toBe(0);
    expect(r.out.split("\n")[2]).toBe(
      "1.casper          one              alice                    0 R casper          ",
    );
    expect(r.out).not.toContain("2.casper");
    expect(r.api.calls[0]).toEqual(["listJobs", "casper-pbs", { history: false, user: undefined }]);
  });

  it("follows the server's pages to the end, printing each as it comes with one header", async () => {
    // a server that hands out one job per page: qstat asks for the next page with its cursor
    const asked: (number | undefined)[] = [];
    class PagedApi extends FakeApi {
      override async listJobs(t: ServerEntry, q: JobQuery = {}): Promise<{ jobs: JobView[]; next?: number }> {
        asked.push(q.after);
        const all = (await super.listJobs(t, { ...q, after: undefined })).jobs;
        const i = q.after ?? 0;
        return { jobs: all.slice(i, i + 1), next: i + 1 < all.length ? i + 1 : undefined };
      }
    }
    const r = await run("qstat", ["-x"], { api: new PagedApi() });
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines.filter((l) => l.startsWith("Job id")).length).toBe(1);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(["1.casper", "2.casper"]);
    expect(asked).toEqual([undefined, 1]);
  });

  it("-x includes finished jobs", async () => {
    const r = await run("qstat", ["-x"]);
    expect(r.out).toContain("2.casper          two              bob                      0 F casper");
  });

  it("job IDs go to their server; unknown IDs exit 153 but others print", async () => {
    const r = await run("qstat", ["7.derecho", "55", "1"]);
    expect(r.code).toBe(153);
    expect(r.err).toBe("qstat: Unknown Job Id 55.casper\n");
    expect(r.out).toContain("7.derecho");
    expect(r.out).toContain("1.casper");
    expect(r.out.match(/Job id/g)?.length).toBe(1);
  });

  it("a finished job without -x exits 35", async () => {
    let r = await run("qstat", ["2"]);
    expect(r.code).toBe(35);
    expect(r.err).toBe(
      "qstat: 2.casper Job has finished, use -x or -H to obtain historical job information\n",
    );
    expect(r.out).toBe("");
    r = await run("qstat", ["-x", "2"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("2.casper");
  });

  it("-f prints full attributes", async () => {
    const r = await run("qstat", ["-f", "1.casper"]);
    expect(r.out).toBe(
      "Job Id: 1.casper\n    Job_Name = one\n    Job_Owner = alice@h\n    job_state = R\n    queue = casper\n\n",
    );
  });

  it("-F json prints the OpenPBS JSON document", async () => {
    const r = await run("qstat", ["-F", "json"]);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ timestamp: 1_700_000_000, pbs_server: "casper-pbs" });
    expect(Object.keys(doc.Jobs)).toEqual(["1.casper"]);
  });

  it("destinations: queue, queue@server, @server", async () => {
    const r = await run("qstat", ["casper", "main@derecho", "@derecho"]);
    expect(r.api.calls.map((c) => [c[1], (c[2] as JobQuery).queue])).toEqual([
      ["casper-pbs", "casper"],
      ["derecho-pbs", "main"],
      ["derecho-pbs", undefined],
    ]);
  });

  it("-u filters by user with the alternate display", async () => {
    const r = await run("qstat", ["-u", "alice", "@derecho"]);
    expect(r.api.calls[0][2]).toMatchObject({ user: "alice" });
    expect(r.out).toContain("Job ID          Username Queue    Jobname");
    expect(r.out).toContain("7.derecho       alice    main     seven");
  });

  it("-Q and -B", async () => {
    let r = await run("qstat", ["-Q"]);
    expect(r.out).toContain("casper               0     0 yes yes");
    r = await run("qstat", ["-Q", "nosuch"]);
    expect(r.code).toBe(153);
    expect(r.err).toBe("qstat: Unknown queue\n");
    r = await run("qstat", ["-B", "derecho"]);
    expect(r.out).toContain("derecho-pbs          0     1");
    r = await run("qstat", ["-Bf"]);
    expect(r.out).toBe("Server: casper-pbs\n    server_state = Active\n    total_jobs = 1\n\n");
  });

  it("rejects unknown options with usage, exit 2", async () => {
    const r = await run("qstat", ["-k"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("qstat: unknown option '-k'");
    expect(r.err).toContain("usage: qstat");
  });
});

describe("job operations", () => {
  it("qdel continues after an error and exits non-zero", async () => {
    const api = new FakeApi();
    api.failDelete.add("1.casper");
    const r = await run("qdel", ["1", "12", "7.derecho"], { api });
    expect(r.err).toBe("qdel: Request invalid for state of job 1.casper\nqdel: Unknown Job Id 12.casper\n");
    expect(r.code).toBe(153);
    expect(api.calls.map((c) => c.slice(0, 3))).toEqual([
      ["deleteJob", "casper-pbs", "1.casper"],
      ["deleteJob", "casper-pbs", "12.casper"],
      ["deleteJob", "derecho-pbs", "7.derecho"],
    ]);
  });

  it("qdel -W suppress_email=N: the first N jobs may mail their abort, the others are deleted with no mail", async () => {
    const nomail = async (args: string[]) =>
      (await run("qdel", args)).api.calls.map((c) => (c[3] as { nomail?: boolean }).nomail === true);
    expect(await nomail(["-W", "suppress_email=2", "1", "2", "3"])).toEqual([false, false, true]);
    // -1: none; 0: ignored (PBS's default of 1000 stands)
    expect(await nomail(["-W", "suppress_email=-1", "1", "2"])).toEqual([true, true]);
    expect(await nomail(["-W", "suppress_email=0", "1", "2"])).toEqual([false, false]);
    expect(await nomail(["1", "2"])).toEqual([false, false]);
    const r = await run("qdel", ["-W", "suppress_email=x", "1"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("illegal -W value: suppress_email=x");
  });

  it("qdel rejects an illegal job ID and needs operands", async () => {
    let r = await run("qdel", ["abc"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toBe("qdel: illegally formed job identifier: abc\n");
    r = await run("qdel", []);
    expect(r.code).toBe(2);
    expect(r.err).toContain("usage: qdel");
  });

  it("qhold / qrls pass -h", async () => {
    let r = await run("qhold", ["-h", "o", "1", "2[].casper"]);
    expect(r.code).toBe(0);
    expect(r.api.calls).toEqual([
      ["holdJob", "casper-pbs", "1.casper", "o"],
      ["holdJob", "casper-pbs", "2[].casper", "o"],
    ]);
    r = await run("qrls", ["1"]);
    expect(r.api.calls).toEqual([["releaseJob", "casper-pbs", "1.casper", undefined]]);
    r = await run("qhold", ["-h", "x", "1"]);
    expect(r.code).toBe(2);
  });

  it("qrerun, qmove", async () => {
    let r = await run("qrerun", ["1"]);
    expect(r.api.calls).toEqual([["rerunJob", "casper-pbs", "1.casper"]]);
    r = await run("qmove", ["other@derecho", "1", "7.derecho"]);
    expect(r.api.calls).toEqual([
      ["moveJob", "casper-pbs", "1.casper", "other@derecho"],
      ["moveJob", "derecho-pbs", "7.derecho", "other@derecho"],
    ]);
    r = await run("qmove", ["q"]);
    expect(r.code).toBe(2);
  });

  it("qalter parses qsub options then job IDs", async () => {
    const r = await run("qalter", ["-l", "walltime=2:00:00", "-N", "renamed", "-v", "FOO", "1", "7.derecho"]);
    expect(r.code).toBe(0);
    expect(r.api.calls).toEqual([
      [
        "alterJob",
        "casper-pbs",
        "1.casper",
        { resources: { walltime: "2:00:00" }, name: "renamed", variables: { FOO: "bar" } },
      ],
      [
        "alterJob",
        "derecho-pbs",
        "7.derecho",
        { resources: { walltime: "2:00:00" }, name: "renamed", variables: { FOO: "bar" } },
      ],
    ]);
  });

  it("firstOperandIndex follows getopt rules", () => {
    expect(firstOperandIndex(["-lwalltime=1", "-h", "1"])).toBe(2);
    expect(firstOperandIndex(["-hN", "x", "1"])).toBe(2);
    expect(firstOperandIndex(["-Nx", "1"])).toBe(1);
    expect(firstOperandIndex(["--", "1"])).toBe(1);
    expect(firstOperandIndex(["1", "2"])).toBe(0);
  });
});

describe("qmgr, pbsnodes, tracejob", () => {
  it("qmgr sends each -c command and prints output", async () => {
    const r = await run("qmgr", ["-c", "p q casper", "-c", "set server scheduling = True"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("create queue casper\n");
    expect(r.api.calls.map((c) => c[2])).toEqual(["p q casper", "set server scheduling = True"]);
  });

  it("qmgr reads commands from stdin and counts errors", async () => {
    const api = new FakeApi();
    api.qmgrFail.add("delete queue nosuch");
    const r = await run("qmgr", [], {
      api,
      stdin: async () =>
        "# comment\ncreate queue a\n\ndelete queue nosuch\nset queue a \\\n enabled = True\n",
    });
    expect(api.calls.map((c) => c[2])).toEqual([
      "create queue a",
      "delete queue nosuch",
      "set queue a enabled = True",
    ]);
    expect(r.err).toBe("qmgr: Unknown queue\n");
    expect(r.code).toBe(1);
  });

  it("pbsnodes -a, node operands, -l, -o, -r", async () => {
    let r = await run("pbsnodes", ["-a"]);
    expect(r.out).toBe(
      "node01\n     state = free\n\nnode02\n     state = offline\n     comment = broken\n\n",
    );
    r = await run("pbsnodes", ["node02", "node09"]);
    expect(r.out).toBe("node02\n     state = offline\n     comment = broken\n\n");
    expect(r.err).toBe("pbsnodes: Unknown node node09\n");
    expect(r.code).toBe(1);
    r = await run("pbsnodes", ["-l"]);
    expect(r.out).toBe(`${"node02".padEnd(20)} ${"offline".padEnd(26)} broken\n`);
    r = await run("pbsnodes", ["-o", "node01"]);
    expect(r.api.calls).toEqual([["qmgr", "casper-pbs", "set node node01 state = offline"]]);
    r = await run("pbsnodes", ["-r", "-C", "fixed", "node02"]);
    expect(r.api.calls.map((c) => c[2])).toEqual([
      "set node node02 state = free",
      'set node node02 comment = "fixed"',
    ]);
    r = await run("pbsnodes", []);
    expect(r.code).toBe(2);
  });

  it("tracejob prints the trace", async () => {
    process.env.TZ = "UTC";
    const r = await run("tracejob", ["1"]);
    // the trace, then the job itself: had it moved, its trace at the new site would follow
    expect(r.api.calls[0]).toEqual(["traceJob", "casper-pbs", "1.casper"]);
    expect(r.api.calls[1]?.[0]).toBe("getJob");
    expect(r.out).toBe("\nJob: 1.casper\n\n01/02/2025 03:04:05  S    Job Queued\n");
  });

  it("--version and unknown commands", async () => {
    let r = await run("qstat", ["--version"]);
    expect(r.out).toBe("pbs_version = metaqueue-0.1.0\n");
    expect(r.code).toBe(0);
    r = await run("qfoo", []);
    expect(r.code).toBe(2);
  });
});

describe("metaqueue accounting and peers", () => {
  it("prints usage by the site it ran at, and allocations used vs granted", async () => {
    const r = await run("metaqueue", ["accounting", "--project", "P1", "@casper"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.api.calls).toContainEqual(["accounting", "casper-pbs", "P1"]);
    expect(r.out).toMatch(/P1\s+casper\s+casper\s+-\s+3600\s+2\.0000/);
    expect(r.out).toMatch(/P1\s+casper\s+derecho\s+-\s+1800\s+0\.5000/);
    expect(r.out).toMatch(/P1\s+casper\s+10\s+2\.5000\s+25\.0/);
  });
  it("shows each peer's health", async () => {
    const r = await run("metaqueue", ["peers", "@casper"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/desched1\s+disconnected\s+never heard; pulls main@desched1 -> casper/);
  });
  it("refuses an unknown subcommand with usage and exit 2", async () => {
    const r = await run("metaqueue", ["bogus"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/usage/);
  });
});

describe("PBS's qstat formats and qsub's record", () => {
  it("qsub sends its command line as Submit_arguments, and nothing without arguments", async () => {
    let r = await run("qsub", ["-l", "walltime=1:00:00", "-v", "A=x y", "job.sh"]);
    expect((r.api.calls[0][2] as SubmitRequest).submitArguments).toBe("-l walltime=1:00:00 -v A=x y job.sh");
    r = await run("qsub", []);
    expect((r.api.calls[0][2] as SubmitRequest).submitArguments).toBeUndefined();
    // a huge -v is in Variable_List already: the copy is cut so it does not eat the job's size limit
    r = await run("qsub", ["-v", `BIG=${"x".repeat(10_000)}`]);
    expect((r.api.calls[0][2] as SubmitRequest).submitArguments).toHaveLength(4096);
  });

  it("-w widens the tables; -F dsv takes -D; -w with -F and -D without dsv are refused like PBS", async () => {
    let r = await run("qstat", ["-w"]);
    expect(r.out.split("\n")[0]).toBe(
      "Job id                         Name            User             Time Use S Queue",
    );
    r = await run("qstat", ["-a", "-w"]);
    expect(r.out).toContain(`${"Job ID".padEnd(30)} Username`);
    r = await run("qstat", ["-f", "-F", "dsv", "-D", ";", "1"]);
    expect(r.out).toBe("Job Id: 1.casper;Job_Name=one;Job_Owner=alice@h;job_state=R;queue=casper\n");
    r = await run("qstat", ["-f", "-F", "dsv", "1"]);
    expect(r.out).toBe("Job Id: 1.casper|Job_Name=one|Job_Owner=alice@h|job_state=R|queue=casper\n");
    r = await run("qstat", ["-w", "-F", "json"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("qstat: option w cannot be used with -F\n");
    r = await run("qstat", ["-D", ";"]);
    expect(r.code).toBe(2);
    r = await run("qstat", ["-F", "yaml"]);
    expect(r.code).toBe(2);
  });
});
