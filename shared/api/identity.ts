/**
 * Who is asking: the Authenticator port. Every API request except /health and /openapi.json
 * goes through one, and none is anonymous.
 *
 * - On AWS the HTTP API's JWT authorizer has already verified the token: the identity is in
 *   its claims (`claimsAuthenticator`).
 * - Locally the CLI sends `Authorization: Bearer <token>` read from the user's 0600 credential
 *   file; the runtime keeps only SHA-256 hashes of issued tokens (`tokenAuthenticator`, the
 *   registry is infra/local/credentials.ts). Reading another user's file is what the OS
 *   forbids, as munge's key is for PBS.
 *
 * Both give the same Identity (a PBS user name and its groups); privilege (manager, operator)
 * is a PBS matter decided from server attributes in routes.ts, never by the authenticator.
 */
import { createHash } from "node:crypto";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { UnauthenticatedError } from "../errors.js";
import { isValidName } from "../pbs/names.js";
import type { Identity } from "../ports/index.js";

// who a request is and what a valid name is belong to the domain; the API re-exports them
export { isValidName, NAME_RE } from "../pbs/names.js";
export type { Identity } from "../ports/index.js";

export type Authenticator = (event: APIGatewayProxyEventV2) => Promise<Identity>;

/** Tokens are 32 random bytes, base64url: anything longer is not ours and is not hashed. */
export const MAX_TOKEN_LENGTH = 256;

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The bearer token of a request, if it carries a well-formed one. */
export function bearerToken(event: APIGatewayProxyEventV2): string | undefined {
  const h = event.headers?.authorization ?? event.headers?.Authorization;
  if (typeof h !== "string") return undefined;
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{1,256})$/.exec(h.trim());
  return m ? m[1] : undefined;
}

/** Claims an API Gateway JWT authorizer put on the event (already verified by API Gateway). */
function claimsOf(event: APIGatewayProxyEventV2): Record<string, unknown> | undefined {
  return (event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } }).authorizer
    ?.jwt?.claims;
}

/**
 * Cognito puts groups in `cognito:groups`; through API Gateway an array claim arrives as the
 * string "[a b]", a directly built event may carry a real array.
 */
export function groupsClaim(v: unknown): string[] {
  const items = Array.isArray(v)
    ? v.map(String)
    : typeof v === "string"
      ? v.replace(/^\[|\]$/g, "").split(/[\s,]+/)
      : [];
  return items.filter(isValidName);
}

/** AWS: the identity is the authorizer's verified claims; no claims, no access. */
export function claimsAuthenticator(): Authenticator {
  return async (event) => {
    const claims = claimsOf(event);
    const user = claims?.pbs_user ?? claims?.username ?? claims?.["cognito:username"];
    if (!isValidName(user)) throw new UnauthenticatedError("Unauthorized Request: no user identity");
    return { user, groups: groupsClaim(claims?.["cognito:groups"]) };
  };
}

/** Local: a bearer token looked up by hash in the runtime's credential registry. */
export function tokenAuthenticator(lookup: (tokenHash: string) => Identity | undefined): Authenticator {
  return async (event) => {
    const token = bearerToken(event);
    if (!token) throw new UnauthenticatedError("Unauthorized Request: no credential");
    const id = lookup(hashToken(token));
    if (!id) throw new UnauthenticatedError("Unauthorized Request: credential not recognized");
    return id;
  };
}

/** Fail closed: a context built without an authenticator answers every request with 401. */
export const refuseAll: Authenticator = async () => {
  throw new UnauthenticatedError("Unauthorized Request: this server has no authenticator configured");
};
