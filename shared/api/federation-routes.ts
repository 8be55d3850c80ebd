/**
 * Federation routes: peers and their health, and accounting (allocations and usage by site).
 * Kept apart from routes.ts so the PBS routes stay easy to read.
 */
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { z } from "zod";
import { accountingReport } from "../accounting/allocations.js";
import { UnauthorizedError } from "../errors.js";
import { peerHealth } from "../peers/transfer.js";
import type { SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import { federationState } from "../server/objects.js";
import { audit } from "../server/privilege.js";

type Result = APIGatewayProxyStructuredResultV2;

export const AllocationSchema = z.object({ coreHours: z.number().min(0).max(1e12).nullable() }).strict();

const PROJECT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export async function federationRoute(
  ctx: SiteContext,
  req: {
    method: string;
    path: string;
    query: Record<string, string | undefined>;
    body: <T extends z.ZodTypeAny>(schema: T) => z.infer<T>;
  },
  actor: () => Promise<{ user: string; manager?: boolean }>,
  json: (status: number, body: unknown) => Result,
): Promise<Result | undefined> {
  const { method, path, query } = req;
  if (path === "/v1/peers" && method === "GET") {
    const [st, seen] = await Promise.all([loadServerState(ctx), ctx.store.getPeersSeen()]);
    const now = ctx.clock.now();
    const peers = [...(ctx.peers?.values() ?? [])].map((p) => {
      const s = seen.find((x) => x.short === p.short);
      return {
        site: p.short,
        server: p.server,
        state: peerHealth(s, now, ctx.settings.peerStaleMs),
        lastSeen: s?.at,
        pulls: (p.pull ?? []).map((d) => `${d.queue}@${p.server} -> ${d.into}`),
      };
    });
    return json(200, { site: ctx.site.short, server: ctx.site.server, state: federationState(st), peers });
  }
  if (path === "/v1/accounting" && method === "GET") {
    const project = query.project;
    const projects = project
      ? [await ctx.store.getProject(project)].filter((p) => p !== undefined)
      : await ctx.store.listProjects();
    return json(200, accountingReport(ctx.site.short, projects));
  }
  const m = /^\/v1\/accounting\/allocations\/([^/]+)$/.exec(path);
  if (m && method === "PUT") {
    const name = decodeURIComponent(m[1]);
    if (!PROJECT_RE.test(name))
      return json(400, { error: { code: "BadProject", message: `Illegal project name: ${name}` } });
    const a = await actor();
    const target = `allocation of project ${name}`;
    if (!a.manager) {
      const err = new UnauthorizedError(`Unauthorized Request: ${a.user} is not a manager`);
      await audit(ctx, {
        user: a.user,
        action: "allocation",
        target,
        outcome: "refused",
        reason: err.message,
      });
      throw err;
    }
    const body = req.body(AllocationSchema);
    await ctx.store.setAllocation(name, body.coreHours ?? undefined);
    await audit(ctx, {
      user: a.user,
      action: "allocation",
      target,
      outcome: "allowed",
      reason: `manager privilege: set to ${body.coreHours ?? "unlimited"} core-hours`,
    });
    return json(
      200,
      accountingReport(
        ctx.site.short,
        [await ctx.store.getProject(name)].filter((p) => p !== undefined),
      ),
    );
  }
  return undefined;
}
