/**
 * Submit: script text and qsub options, parsed by the same code as qsub (shared/pbs), so the
 * same mistakes give the same messages (`qsub: ...`) before anything is sent; the server then
 * validates again exactly as for the CLI and its errors are shown the same way.
 */
import type { SubmitResponse } from "../../shared/api/views.js";
import {
  mergeOptions,
  parseDirectives,
  parseQsubArgv,
  tokenizeDirective,
} from "../../shared/pbs/qsub-options.js";
import { parseDestination } from "../../shared/pbs/jobid.js";
import { apiFetch, baseOf } from "./api.js";
import { h } from "./dom.js";
import { app, siteOf } from "./state.js";

const EXAMPLE = `#!/bin/bash
#PBS -N hello
#PBS -l select=1:ncpus=1
#PBS -l walltime=00:05:00
echo "hello from $PBS_JOBID"
`;

export async function renderSubmit(main: HTMLElement): Promise<() => void> {
  const self = app.sites.find((s) => s.self);
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "submit-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const fd = new FormData(e.target as HTMLFormElement);
        result.replaceChildren();
        try {
          const id = await submit(
            String(fd.get("script") ?? ""),
            String(fd.get("options") ?? ""),
            String(fd.get("dir") ?? ""),
            String(fd.get("site") ?? ""),
          );
          result.replaceChildren(
            h(
              "p",
              { "data-submitted": id },
              "submitted ",
              h("a", { href: `#/job/${encodeURIComponent(id)}` }, id),
            ),
          );
        } catch (err) {
          result.replaceChildren(
            h("p", { class: "error", role: "alert" }, `qsub: ${(err as Error).message}`),
          );
        }
      },
    },
    h(
      "label",
      {},
      "site (a -q queue@server option wins)",
      h(
        "select",
        { name: "site" },
        app.sites.map((s) => h("option", { value: s.short, selected: s.self }, `${s.short} (${s.server})`)),
      ),
    ),
    h(
      "label",
      {},
      "qsub options",
      h("input", {
        name: "options",
        placeholder: "-q casper -l walltime=00:10:00 -P P1",
        autocomplete: "off",
      }),
    ),
    h(
      "label",
      {},
      "working directory (PBS_O_WORKDIR: output files land here)",
      h("input", { name: "dir", required: true, value: localStorage.getItem("metaqueue.dir") ?? "" }),
    ),
    h("label", {}, "script", h("textarea", { name: "script", spellcheck: "false" }, EXAMPLE)),
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Submit")),
  );
  main.replaceChildren(h("h2", {}, `Submit a job${self ? "" : ""}`), form, result);
  return () => {};
}

async function submit(script: string, optionText: string, dir: string, siteName: string): Promise<string> {
  const parsed = parseQsubArgv(tokenizeDirective(optionText));
  if (parsed.script || parsed.command) throw new Error("give the script in the text box, not as an argument");
  const options = mergeOptions(parseDirectives(script, parsed.directivePrefix ?? "#PBS"), parsed.options);
  let site = siteOf(siteName);
  if (options.queue) {
    const dest = parseDestination(options.queue);
    if (dest.server) {
      site = siteOf(dest.server);
      if (!site) throw new Error(`Unknown server ${dest.server}`);
    }
    if (dest.queue) options.queue = dest.queue;
    else delete options.queue;
  }
  if (!site) throw new Error("no site to submit to");
  if (!dir.startsWith("/")) throw new Error("the working directory must be an absolute path");
  localStorage.setItem("metaqueue.dir", dir);
  const r = await apiFetch<SubmitResponse>(baseOf(site), "/v1/jobs", {
    method: "POST",
    body: JSON.stringify({
      script,
      options,
      submitDir: dir,
      env: { PBS_O_WORKDIR: dir },
      submitHost: location.hostname || "dashboard",
    }),
  });
  return r.jobId;
}
