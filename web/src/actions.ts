/** hold, release, delete: the same API calls as qhold, qrls, qdel, asked for with confirmation. */
import { apiFetch, baseOf } from "./api.js";
import { confirmAction, h, status } from "./dom.js";
import { mayAct, siteOfJob } from "./state.js";

export type Action = "hold" | "release" | "delete";

export async function runAction(action: Action, jobId: string): Promise<boolean> {
  const site = siteOfJob(jobId);
  if (!site) {
    status(`unknown site for ${jobId}`);
    return false;
  }
  const verb = { hold: "Hold", release: "Release", delete: "Delete" }[action];
  if (!(await confirmAction(`${verb} job ${jobId}?`, verb))) return false;
  const id = encodeURIComponent(jobId);
  try {
    if (action === "delete") await apiFetch(baseOf(site), `/v1/jobs/${id}`, { method: "DELETE" });
    else await apiFetch(baseOf(site), `/v1/jobs/${id}/${action}`, { method: "POST", body: "{}" });
    status(`${verb.toLowerCase()}: ${jobId} done`);
    return true;
  } catch (e) {
    const cmd = { hold: "qhold", release: "qrls", delete: "qdel" }[action];
    status(`${cmd}: ${(e as Error).message} ${jobId}`);
    return false;
  }
}

/** Buttons for a job's row or detail page; none when the user may not act on the job. */
export function actionButtons(
  jobId: string,
  site: string,
  owner: string,
  state: string,
  after: () => void,
): HTMLElement | null {
  if (!mayAct(site, owner) || ["F", "X", "M"].includes(state)) return null;
  const btn = (a: Action, label: string, enabled: boolean) =>
    h(
      "button",
      {
        type: "button",
        class: a === "delete" ? "danger" : "",
        "data-action": a,
        "aria-label": `${label} ${jobId}`,
        disabled: !enabled,
        onclick: async () => {
          if (await runAction(a, jobId)) after();
        },
      },
      label,
    );
  return h(
    "span",
    { class: "actions" },
    btn("hold", "Hold", state !== "H"),
    btn("release", "Release", state === "H"),
    btn("delete", "Delete", true),
  );
}
