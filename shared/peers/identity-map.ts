/**
 * The acid mapper: account (project) and user names of jobs that come from a peer, mapped to
 * this site's names on the way in. The job keeps the peer's names (inbound.originUser /
 * originAccount), so the usage that goes back is in the peer's names exactly, with no reverse
 * lookup to get wrong. Pure: the maps come from the site configuration (PeerInfo).
 */
export interface IdentityMaps {
  accounts?: Record<string, string>;
  users?: Record<string, string>;
}

export type Mapped = { ok: true; user: string; account?: string } | { ok: false; reason: string };

/** Peer names to ours. With a map configured, an unmapped name is refused, never guessed. */
export function mapInbound(maps: IdentityMaps, from: string, user: string, account?: string): Mapped {
  let localAccount = account;
  if (account !== undefined && maps.accounts) {
    localAccount = maps.accounts[account];
    if (localAccount === undefined)
      return { ok: false, reason: `account ${account} of ${from} has no mapping at this site` };
  }
  let localUser = user;
  if (maps.users) {
    const u = maps.users[user] ?? maps.users["*"];
    if (u === undefined) return { ok: false, reason: `user ${user} of ${from} has no mapping at this site` };
    localUser = u;
  }
  return { ok: true, user: localUser, account: localAccount };
}
