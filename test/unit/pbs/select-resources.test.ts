import { describe, expect, it } from "vitest";
import {
  nodesToSelect,
  normalizeResources,
  parsePlace,
  placementOf,
  parseResourceList,
  totals,
  validateResourceValue,
} from "../../../shared/pbs/resources.js";
import { formatSelect, parseSelect } from "../../../shared/pbs/select.js";
import { expectParseError } from "./helpers.js";

const GB = 1024 ** 3;

describe("parseSelect", () => {
  it("parses multi-chunk selects with counts and defaults", () => {
    expect(parseSelect("2:ncpus=4:mem=8gb+1:ncpus=1:ngpus=1")).toEqual([
      { count: 2, ncpus: 4, mem: 8 * GB, ngpus: 0, mpiprocs: 1, other: {} },
      { count: 1, ncpus: 1, mem: 0, ngpus: 1, mpiprocs: 1, other: {} },
    ]);
  });

  it("defaults count to 1 and keeps other resources (names lowercased)", () => {
    expect(parseSelect("ncpus=2:host=n01:Vnode=v1:mpiprocs=2:ompthreads=1")).toEqual([
      {
        count: 1,
        ncpus: 2,
        mem: 0,
        ngpus: 0,
        mpiprocs: 2,
        other: { host: "n01", vnode: "v1", ompthreads: "1" },
      },
    ]);
  });

  it("accepts a bare count", () => {
    expect(parseSelect("3")).toEqual([{ count: 3, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} }]);
  });

  it("matches known names case-insensitively", () => {
    expect(parseSelect("1:NCPUS=8:Mem=1gb")[0]).toMatchObject({ ncpus: 8, mem: GB });
  });

  it("allows ncpus=0", () => {
    expect(parseSelect("1:ncpus=0:ngpus=1")[0].ncpus).toBe(0);
  });

  it.each([
    ["", "empty"],
    ["2:ncpus=4+", "empty chunk"],
    ["+1:ncpus=1", "empty chunk"],
    ["2:ncpus", "not name=value"],
    ["0:ncpus=1", "must be >= 1"],
    ["1:ncpus=-1", "whole number"],
    ["1:ncpus=1.5", "whole number"],
    ["1:ncpus=two", "whole number"],
    ["1:mem=lots", "size"],
    ["1:ncpus=1:ncpus=2", "given twice"],
    ["1:ncpus=1:NCPUS=2", "given twice"],
    ["1:ncpus=", "empty value"],
    ["1:9x=1", "bad resource name"],
    ["1:ngpus=x", "whole number"],
  ])("rejects %j (%s)", (text, msg) => {
    expectParseError(() => parseSelect(text), msg);
  });
});

describe("formatSelect", () => {
  it("writes the canonical form", () => {
    expect(formatSelect(parseSelect("ncpus=4:mem=8192mb+2:ngpus=1:mpiprocs=2:host=a"))).toBe(
      "1:ncpus=4:mem=8gb+2:ncpus=1:ngpus=1:mpiprocs=2:host=a",
    );
  });

  it("always shows ncpus, omits defaults", () => {
    expect(formatSelect(parseSelect("2"))).toBe("2:ncpus=1");
  });

  it("round-trips", () => {
    for (const s of ["2:ncpus=4:mem=8gb+1:ncpus=1:ngpus=1", "1:ncpus=0:mem=1536b:mpiprocs=0:foo=bar"]) {
      const chunks = parseSelect(s);
      expect(parseSelect(formatSelect(chunks))).toEqual(chunks);
    }
  });
});

describe("parseResourceList", () => {
  it("splits on commas", () => {
    expect(parseResourceList("select=2:ncpus=1,walltime=00:10:00")).toEqual({
      select: "2:ncpus=1",
      walltime: "00:10:00",
    });
    expect(parseResourceList("mem=4gb,ncpus=2")).toEqual({ mem: "4gb", ncpus: "2" });
  });

  it("keeps commas inside quotes and lowercases names", () => {
    expect(parseResourceList('Software="a,b",place=scatter:excl')).toEqual({
      software: "a,b",
      place: "scatter:excl",
    });
  });

  it("later value for the same name wins", () => {
    expect(parseResourceList("mem=1gb,mem=2gb")).toEqual({ mem: "2gb" });
  });

  it.each([
    ["", "empty"],
    ["select=1,", "is not name=value"],
    ["walltime", "is not name=value"],
    ["mem=", "empty value"],
    ["9x=1", "bad name"],
    ["my-res=1", "bad name"],
    ['foo="abc', "unterminated"],
  ])("rejects %j", (text, msg) => {
    const err = expectParseError(() => parseResourceList(text), msg);
    expect(err.message).toContain("illegal -l value");
  });
});

describe("parsePlace", () => {
  it.each([
    ["pack", { arrangement: "pack" }],
    ["scatter", { arrangement: "scatter" }],
    ["free", { arrangement: "free" }],
    ["vscatter", { arrangement: "vscatter" }],
    ["excl", { arrangement: "free", sharing: "excl" }],
    ["scatter:excl", { arrangement: "scatter", sharing: "excl" }],
    ["shared:pack", { arrangement: "pack", sharing: "shared" }],
    ["EXCLHOST:Pack", { arrangement: "pack", sharing: "exclhost" }],
  ])("accepts %s", (p, want) => {
    expect(parsePlace(p)).toEqual(want);
  });
  it.each(["", "pack:scatter", "excl:shared", "random", "group=", "pack::excl", "scatter:group=a:group=b"])(
    "rejects %j as PBS does: Illegal attribute or resource value, exit 166",
    (p) => {
      const err = expectParseError(
        () => parsePlace(p),
        "Illegal attribute or resource value Resource_List.place",
      );
      expect(err.exitCode).toBe(166);
    },
  );
  it.each(["group=switch", "pack:exclhost:group=switch", "group=host"])(
    "refuses %j with PBS's Unknown resource, exit 187 (no grouping resources here)",
    (p) => {
      const err = expectParseError(() => parsePlace(p), /^Unknown resource Resource_List\.place \(group=/);
      expect(err.exitCode).toBe(187);
    },
  );
});

describe("placementOf", () => {
  it("reads stored place text, free when absent or no longer valid", () => {
    expect(placementOf("scatter:excl")).toEqual({ arrangement: "scatter", sharing: "excl" });
    expect(placementOf(undefined)).toEqual({ arrangement: "free" });
    expect(placementOf("pack:group=switch")).toEqual({ arrangement: "free" });
  });
});

describe("nodesToSelect", () => {
  it("converts N:ppn=P to ncpus and mpiprocs", () => {
    expect(nodesToSelect("2:ppn=4")).toEqual([
      { count: 2, ncpus: 4, mem: 0, ngpus: 0, mpiprocs: 4, other: {} },
    ]);
  });
  it("converts host names, gpus and properties", () => {
    expect(nodesToSelect("n01:ppn=2+1:gpus=1:bigmem")).toEqual([
      { count: 1, ncpus: 2, mem: 0, ngpus: 0, mpiprocs: 2, other: { host: "n01" } },
      { count: 1, ncpus: 1, mem: 0, ngpus: 1, mpiprocs: 1, other: { bigmem: "True" } },
    ]);
  });
  it.each([
    ["", "empty"],
    ["2:ppn=0", ">= 1"],
    ["0:ppn=1", ">= 1"],
    ["+2", "empty node spec"],
    ["2:ppn=x", "whole number"],
    ["2:b@d", "bad property"],
  ])("rejects %j", (text, msg) => {
    expectParseError(() => nodesToSelect(text), msg);
  });
});

describe("normalizeResources", () => {
  it("uses select and parses walltime/place, keeps others as text", () => {
    expect(
      normalizeResources({
        select: "2:ncpus=4:mem=8gb",
        walltime: "01:00:00",
        place: "scatter:excl",
        software: "matlab",
        cput: "10:00",
      }),
    ).toEqual({
      select: [{ count: 2, ncpus: 4, mem: 8 * GB, ngpus: 0, mpiprocs: 1, other: {} }],
      walltime: 3600,
      place: "scatter:excl",
      other: { software: "matlab", cput: "10:00" },
    });
  });

  it("builds one chunk from ncpus/mem/ngpus, placed pack as PBS converts it", () => {
    expect(normalizeResources({ ncpus: "8", mem: "16gb", ngpus: "2" })).toEqual({
      select: [{ count: 1, ncpus: 8, mem: 16 * GB, ngpus: 2, mpiprocs: 1, other: {} }],
      place: "pack",
      other: {},
    });
  });

  it("defaults to one chunk of one cpu", () => {
    expect(normalizeResources({})).toEqual({
      select: [{ count: 1, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} }],
      place: "pack",
      other: {},
    });
  });

  it("defaults place to free with select, keeps a given place as written", () => {
    expect(normalizeResources({ select: "2:ncpus=1" }).place).toBe("free");
    expect(normalizeResources({ select: "2:ncpus=1", place: "Scatter:excl" }).place).toBe("Scatter:excl");
  });

  it("checks ompthreads in a chunk as a whole number", () => {
    expect(normalizeResources({ select: "1:ncpus=4:ompthreads=02" }).select[0].other).toEqual({
      ompthreads: "2",
    });
    expectParseError(() => normalizeResources({ select: "1:ncpus=4:ompthreads=two" }), "ompthreads");
  });

  it("treats names case-insensitively", () => {
    const r = normalizeResources({ NCPUS: "4", Walltime: "10" });
    expect(r.select[0].ncpus).toBe(4);
    expect(r.walltime).toBe(10);
  });

  it("converts nodes=, spreading job-wide mem and defaulting place to scatter", () => {
    expect(normalizeResources({ nodes: "2:ppn=4", mem: "8gb" })).toEqual({
      select: [{ count: 2, ncpus: 4, mem: 4 * GB, ngpus: 0, mpiprocs: 4, other: {} }],
      place: "scatter",
      other: {},
    });
    expect(normalizeResources({ nodes: "1:ppn=2", place: "pack" }).place).toBe("pack");
  });

  it.each(["ncpus", "mem", "ngpus", "nodes", "mpiprocs"])("rejects select together with %s", (k) => {
    const raw: Record<string, string> = { select: "1:ncpus=2" };
    raw[k] = k === "mem" ? "1gb" : k === "nodes" ? "1" : "2";
    const err = expectParseError(() => normalizeResources(raw), "cannot contain both 'select' and");
    expect(err.message).toContain(`'${k}'`);
  });

  it("rejects nodes together with ncpus", () => {
    expectParseError(() => normalizeResources({ nodes: "2", ncpus: "2" }), "both 'nodes' and 'ncpus'");
  });

  it.each([
    [{ walltime: "soon" }, "time"],
    [{ mem: "big" }, "size"],
    [{ ncpus: "-2" }, "whole number"],
    [{ place: "everywhere" }, "Resource_List.place"],
    [{ "bad-name": "1" }, "Unknown resource: bad-name"],
    [{ foo: "" }, "empty value"],
    [{ select: "1:ncpus" }, "select="],
  ])("rejects %j", (raw, msg) => {
    expectParseError(() => normalizeResources(raw as Record<string, string>), msg);
  });

  it("allows custom resources", () => {
    expect(normalizeResources({ my_license: "3" }).other).toEqual({ my_license: "3" });
  });
});

describe("validateResourceValue", () => {
  it("accepts good values and rejects bad ones", () => {
    expect(() => validateResourceValue("vmem", "1gb")).not.toThrow();
    expect(() => validateResourceValue("anything", "x")).not.toThrow();
    expectParseError(() => validateResourceValue("cput", "x"), "time");
  });
});

describe("totals", () => {
  it("sums over chunks times count", () => {
    const req = normalizeResources({ select: "2:ncpus=4:mem=8gb+1:ncpus=1:ngpus=2" });
    expect(totals(req)).toEqual({ ncpus: 9, mem: 16 * GB, ngpus: 2, nodect: 3 });
  });
});
