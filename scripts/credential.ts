/**
 * `npm run credential -- <user> [--out file] [--renew]`: issue a local credential for a user,
 * the way an admin creates a munge key. Writes `~<user>/.metaqueue/credential` (mode 0600,
 * chowned to the user when run as root) unless `--out` names another file, and records its
 * hash in the runtime's registry (`$METAQUEUE_DATA/credentials.json`, default ./.metaqueue).
 * A running `npm start` accepts it at once.
 */
import path from "node:path";
import { CredentialRegistry, ensureCredential } from "../infra/local/credentials.js";

const args = process.argv.slice(2);
const user = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--out");
const outAt = args.indexOf("--out");
const out = outAt >= 0 ? args[outAt + 1] : undefined;
if (!user || (outAt >= 0 && !out)) {
  console.error("usage: npm run credential -- <user> [--out file] [--renew]");
  process.exit(2);
}
const dataDir = path.resolve(process.env.METAQUEUE_DATA ?? ".metaqueue");
try {
  const registry = new CredentialRegistry(path.join(dataDir, "credentials.json"));
  const r = ensureCredential(registry, user, {
    file: out ? path.resolve(out) : undefined,
    renew: args.includes("--renew"),
  });
  console.log(`${r.created ? "issued" : "registered existing"} credential for ${user}: ${r.file}`);
} catch (e) {
  console.error(`credential: ${(e as Error).message}`);
  process.exit(1);
}
