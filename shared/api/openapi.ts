/** OpenAPI 3.1 description of the HTTP API, with request bodies generated from the zod schemas. */
import { OrderSchema, RunSchema, SignalSchema } from "./command-routes.js";
import { AllocationSchema } from "./federation-routes.js";
import { z } from "zod";
import { AlterSchema, HoldSchema, MoveSchema, QmgrSchema, SubmitRequestSchema } from "./schemas.js";

const body = (schema: z.ZodTypeAny) => ({
  required: true,
  content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input" }) } },
});
const ok = (description: string) => ({
  description,
  content: { "application/json": { schema: { type: "object" } } },
});
const errors = {
  "400": { description: "malformed input (PBS-style message in error.message)" },
  "401": { description: "no identity" },
  "403": { description: "Unauthorized Request" },
  "404": { description: "Unknown Job Id / Unknown queue" },
  "409": { description: "Request invalid for state of job" },
};
const jobId = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string" },
  description: "123, 123.casper, 45[].casper, 45[3].casper",
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: { title: "metaqueue", version: "0.1.0", description: "PBS server API of one metaqueue site" },
    components: {
      securitySchemes: {
        user: {
          type: "http",
          scheme: "bearer",
          description:
            "locally the token in the user's 0600 ~/.metaqueue/credential; on AWS a JWT checked by the authorizer",
        },
      },
    },
    security: [{ user: [] }],
    paths: {
      "/v1/server": { get: { summary: "qstat -B", responses: { "200": ok("{server: ServerView}") } } },
      "/v1/jobs": {
        get: {
          summary: "qstat",
          parameters: [
            { name: "history", in: "query", schema: { type: "string", enum: ["1"] } },
            { name: "queue", in: "query", schema: { type: "string" } },
            { name: "user", in: "query", schema: { type: "string" } },
            // qstat's form: pages of 500, oldest first; the client follows `next` as `after`
            {
              name: "after",
              in: "query",
              schema: { type: "integer", minimum: 0 },
              description: "qstat's cursor: `next` of the last page (oldest first)",
            },
            // the dashboard's paged form: any of these makes the answer one page, newest first
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500 } },
            {
              name: "before",
              in: "query",
              schema: { type: "integer" },
              description: "cursor: `next` of the last page",
            },
            {
              name: "state",
              in: "query",
              schema: { type: "string" },
              description: "job states, comma separated",
            },
            { name: "project", in: "query", schema: { type: "string" } },
            { name: "id", in: "query", schema: { type: "string" }, description: "search by job ID" },
          ],
          responses: { "200": ok("{jobs: JobView[], next?: number | null}") },
        },
        post: {
          summary: "qsub",
          requestBody: body(SubmitRequestSchema),
          responses: { "201": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}": {
        get: {
          summary: "qstat -f id",
          parameters: [jobId],
          responses: { "200": ok("{job: JobView}"), ...errors },
        },
        delete: {
          summary: "qdel",
          parameters: [
            jobId,
            {
              name: "purge",
              in: "query",
              schema: { type: "string", enum: ["0", "1"] },
              description: "qdel -x",
            },
            {
              name: "force",
              in: "query",
              schema: { type: "string", enum: ["0", "1"] },
              description: "qdel -W force",
            },
          ],
          responses: { "200": ok("{jobId}"), ...errors },
        },
        patch: {
          summary: "qalter",
          parameters: [jobId],
          requestBody: body(AlterSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/hold": {
        post: {
          summary: "qhold",
          parameters: [jobId],
          requestBody: body(HoldSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/release": {
        post: {
          summary: "qrls",
          parameters: [jobId],
          requestBody: body(HoldSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/rerun": {
        post: { summary: "qrerun", parameters: [jobId], responses: { "200": ok("{jobId}"), ...errors } },
      },
      "/v1/jobs/{id}/move": {
        post: {
          summary: "qmove",
          parameters: [jobId],
          requestBody: body(MoveSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/run": {
        post: {
          summary: "qrun [-H host]",
          parameters: [jobId],
          requestBody: body(RunSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/signal": {
        post: {
          summary: "qsig -s signal",
          parameters: [jobId],
          requestBody: body(SignalSchema),
          responses: { "200": ok("{jobId}"), ...errors },
        },
      },
      "/v1/jobs/{id}/order": {
        post: {
          summary: "qorder id with",
          parameters: [jobId],
          requestBody: body(OrderSchema),
          responses: { "200": ok("{jobId, with}"), ...errors },
        },
      },
      "/v1/jobs/{id}/trace": {
        get: {
          summary: "tracejob",
          parameters: [jobId],
          responses: { "200": ok("{events: TraceEvent[]}"), ...errors },
        },
      },
      "/v1/jobs/{id}/subjobs": {
        get: {
          summary: "qstat -t: the subjobs of an array (12[]), a subjob (12[3]) or a range (12[1-5])",
          parameters: [jobId],
          responses: { "200": ok("{jobs: JobView[]}"), ...errors },
        },
      },
      "/v1/jobs/{id}/deps": {
        get: {
          summary: "dependencies both ways",
          parameters: [jobId],
          responses: {
            "200": ok("{dependsOn: {type, jobId, pending}[], dependents: {type, jobId}[]}"),
            ...errors,
          },
        },
      },
      "/v1/jobs/{id}/output": {
        get: {
          summary: "tail of the job's stdout (stream=o) or stderr (stream=e); `from` = byte offset to follow",
          parameters: [
            jobId,
            { name: "stream", in: "query", schema: { type: "string", enum: ["o", "e"] } },
            { name: "from", in: "query", schema: { type: "integer" } },
            { name: "bytes", in: "query", schema: { type: "integer" } },
          ],
          responses: {
            "200": ok(
              "{path, size, offset, text, exists, running, partial, asOf}: partial when the text is a snapshot of a running job's output taken at asOf (epoch ms; on AWS the MOM uploads one a minute while it grows)",
            ),
            "501": ok("a site without an output reader (an AWS deployment without an output bucket)"),
            ...errors,
          },
        },
      },
      "/v1/whoami": {
        get: {
          summary: "the caller's user name and privilege",
          responses: { "200": ok("{user, privileged}") },
        },
      },
      "/v1/federation": {
        get: { summary: "this site and its peers", responses: { "200": ok("{self, sites: SiteSummary[]}") } },
      },
      "/v1/overview": {
        get: { summary: "queues, nodes, last cycles", responses: { "200": ok("Overview") } },
      },
      "/v1/stats": {
        get: {
          summary: "per-minute job counts",
          parameters: [{ name: "since", in: "query", schema: { type: "integer" }, description: "epoch ms" }],
          responses: { "200": ok("{site, samples: StatSample[]}") },
        },
      },
      "/v1/queues": { get: { summary: "qstat -Q", responses: { "200": ok("{queues: QueueView[]}") } } },
      "/v1/queues/{name}": {
        get: { summary: "qstat -Q name", responses: { "200": ok("{queue: QueueView}"), ...errors } },
      },
      "/v1/nodes": { get: { summary: "pbsnodes -a", responses: { "200": ok("{nodes: NodeView[]}") } } },
      "/v1/qmgr": {
        post: {
          summary: "qmgr -c",
          requestBody: body(QmgrSchema),
          responses: { "200": ok("{output}"), ...errors },
        },
      },
      "/v1/peers": {
        get: {
          summary: "metaqueue peers: this site's federation state, its peers' health and pull directives",
          responses: { "200": ok("{site, server, state, peers: {site, server, state, lastSeen, pulls}[]}") },
        },
      },
      "/v1/accounting": {
        get: {
          summary: "metaqueue accounting: usage by the site it ran at, allocations used vs granted",
          parameters: [{ name: "project", in: "query", schema: { type: "string" } }],
          responses: {
            "200": ok("AccountingReport {site, allocations: AllocationRow[], usage: UsageRow[]}"),
          },
        },
      },
      "/v1/accounting/allocations/{project}": {
        put: {
          summary: "qmgr set project P allocation = N (managers only); coreHours null removes it",
          requestBody: body(AllocationSchema),
          responses: { "200": ok("AccountingReport"), ...errors },
        },
      },
    },
  };
}
