/**
 * The one-time secret of an interactive job's session (qsub -I). The server makes it at
 * submit and hands it to the submitter alone (in the submit answer); the job record and the
 * MOM keep only its SHA-256, so neither a read of the table nor of the run spec lets anyone
 * attach. The MOM compares hashes in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 256 random bits, URL-safe text. */
export function newSessionKey(): string {
  return randomBytes(32).toString("base64url");
}

/** SHA-256 of a session key, hex. */
export function sessionKeyHash(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Whether `presented` is the key whose hash is `keyHash`; constant time in the key's content. */
export function sessionKeyMatches(presented: string, keyHash: string): boolean {
  // both sides hashed to 32 bytes: equal lengths, so timingSafeEqual never throws or leaks length
  const a = createHash("sha256").update(presented, "utf8").digest();
  const b = Buffer.from(/^[0-9a-f]{64}$/.test(keyHash) ? keyHash : "0".repeat(64), "hex");
  return timingSafeEqual(a, b) && /^[0-9a-f]{64}$/.test(keyHash);
}
