import { createHash } from 'node:crypto';
import type { HitRow, NewHitRow } from '../db/schema.ts';
import { createStorageBudget, INTRUSION_BYTES, rowBytes, type FoldReason, type StorageBudget } from './budget.ts';

export interface FloodOptions {
  /** Identical hits from one source stored as separate rows within the window. @default 20 */
  threshold: number;
  /** Window in which hits are counted. @default 60000 */
  windowMs: number;
  /**
   * HTTP: rows per action (token, source, method, path, credential, what the kind decoded),
   * whatever else the query string or user agent say, within the window. @default unlimited
   */
  actionRows?: number;
  /** HTTP: rows per source address within the window, all tokens and actions together. @default unlimited */
  sourceRows?: number;
  /** Global bytes-per-minute budget of new rows (budget.ts). @default unlimited */
  budget?: StorageBudget;
  /** Most keys remembered per table; a table is cleared when full. @default 50000 */
  maxKeys?: number;
}

/** What to do with one hit: store it as a row, fold it into an earlier row, or count it without a row. */
export type FloodDecision = { store: true } | { fold: HitRow; reason: FoldReason } | { drop: true };

/** What the kind decoded (an AWS action, a portal outcome), as a short key part: another decoded action is another action. */
function digest(details: unknown): string {
  return details ? createHash('sha1').update(JSON.stringify(details)).digest('base64') : '';
}

interface Window {
  since: number;
  count: number;
  hit?: HitRow;
}

/**
 * Flood control without silent loss. Levels, each within `windowMs`:
 *
 * 1. identical hits (same token, source and every field that tells events apart) past
 *    `threshold` fold into the last stored row (its `repeatCount` and `lastAt` grow);
 * 2. HTTP: past `actionRows` rows for one action (token, source, method, path, credential and
 *    what the kind decoded, such as an AWS API action), further variants of it (another query
 *    string or user agent: cache busters, a query-varying flood) fold into the action's last row;
 * 3. HTTP: past `sourceRows` rows for one source, its hits fold into its last row for that token
 *    (the first hit of a token it had not touched in the window still gets a row);
 * 4. a new row must fit the global budget; one that does not folds into the source's last row
 *    for the token, or, with none, is counted on the token and in the budget's counts, not stored.
 *    A hit from a (token, source) pair with no row in the window is charged for the intrusion
 *    rows it is likely to open as well (INTRUSION_BYTES).
 *
 * A planted secret used skips level 3 and may draw on a reserve of a quarter of the budget once
 * the budget is spent, so a flood of other hits cannot keep a stolen key's use from paging. Its
 * bounds: one source's uses of one secret past `sourceRows` rows in the window fold into the last
 * of them; past the budget and the reserve, uses of the secret fold into its last stored use
 * (from whichever source), and only a secret with no use stored in the window still gets a row.
 *
 * Every distinct event within the bounds is a row. DNS and SMTP hits use level 1 keyed as before
 * (name and type, sender and subject …) and level 4: their sources are relays (resolvers, mail
 * servers) that carry many people's lookups and mail, so levels 2 and 3 would merge actors.
 */
export function createFloodGate(opts: FloodOptions) {
  const max = opts.maxKeys ?? 50_000;
  const budget = opts.budget ?? createStorageBudget(0);
  // Credential uses past the budget: a second, smaller bucket (a quarter of the budget's rate).
  const reserve = createStorageBudget(budget.perMinute / 4);
  const identical = new Map<string, Window>();
  const actions = new Map<string, Window>();
  const sources = new Map<string, Window>();
  /** Rows per (token, source, planted secret): the bound of credential uses. */
  const credentialUses = new Map<string, Window>();
  /** The last stored use of each (token, planted secret), from any source: where uses past every budget fold. */
  const secrets = new Map<string, Window>();
  /** The last stored row of each (token, source), the target of level 3 and 4 folds. */
  const pairs = new Map<string, Window>();

  const current = (table: Map<string, Window>, key: string, now: number): Window => {
    let w = table.get(key);
    if (!w || now - w.since > opts.windowMs) {
      if (table.size >= max) table.clear();
      w = { since: now, count: 0 };
      table.set(key, w);
    }
    return w;
  };
  const keys = (r: NewHitRow) => ({
    identical: [r.tokenId, r.channel, r.sourceIp, r.method, r.path, r.query, r.userAgent, r.qname, r.qtype, r.mailFrom, r.mailSubject, r.credential, r.actorUser, r.actorHost].join('\u0000'),
    action: r.channel === 'http' ? [r.tokenId, r.sourceIp, r.method, r.path, r.credential, r.actorUser, r.actorHost, r.classification, digest(r.details)].join('\u0000') : null,
    // DNS and SMTP sources are relays (a resolver, a mail server) carrying many people's
    // lookups and mail: a budget per source would fold distinct actors together.
    source: r.channel === 'http' ? `${r.sourceIp}` : null,
    pair: `${r.tokenId}\u0000${r.sourceIp}`,
    credential: `${r.tokenId}\u0000${r.sourceIp}\u0000${r.credential ?? ''}`,
    secret: `${r.tokenId}\u0000${r.credential ?? ''}`,
  });
  const fold = (hit: HitRow, reason: FoldReason): FloodDecision => {
    budget.counts.folded[reason]++;
    return { fold: hit, reason };
  };

  return {
    /** Decide what happens to `row` (and count it); call `stored` after storing a row. */
    decide(row: NewHitRow): FloodDecision {
      const now = row.at.getTime();
      const k = keys(row);
      const same = current(identical, k.identical, now);
      same.count++;
      if (same.count > opts.threshold && same.hit) return fold(same.hit, 'identical');
      if (k.action !== null) {
        const action = current(actions, k.action, now);
        if (action.hit && action.count >= (opts.actionRows ?? Number.POSITIVE_INFINITY)) return fold(action.hit, 'action');
      }
      const pair = pairs.get(k.pair);
      const last = pair && now - pair.since <= opts.windowMs ? pair.hit : undefined;
      // What the row costs: itself, and the intrusion it is likely to open when its source has no row for the token yet.
      const bytes = budget.perMinute > 0 ? rowBytes(row) + (last ? 0 : INTRUSION_BYTES) : 0;
      // A planted secret used is the strongest signal: past levels 1 and 2 (the same use again) it is
      // a row of its own, whatever the source's rows for other decoys, so it is correlated and pages,
      // and each distinct action with it (another AWS API call) is a row. Its bounds: one source's uses
      // of one secret past `sourceRows` fold into the last of them; past the budget and its reserve,
      // a use folds into the secret's last stored use (counted there, and it pages as a repeat), so
      // a stolen key used from ever-new addresses does not buy unbounded storage. The first use of a
      // secret in the window is always a row.
      if (row.credential) {
        const uses = current(credentialUses, k.credential, now);
        if (uses.hit && uses.count >= (opts.sourceRows ?? Number.POSITIVE_INFINITY)) return fold(uses.hit, 'source');
        if (budget.take(bytes) || reserve.take(bytes)) return { store: true };
        const secret = secrets.get(k.secret);
        if (secret?.hit && now - secret.since <= opts.windowMs) return fold(secret.hit, 'budget');
        return { store: true };
      }
      if (k.source !== null && last && current(sources, k.source, now).count >= (opts.sourceRows ?? Number.POSITIVE_INFINITY)) return fold(last, 'source');
      if (budget.take(bytes)) return { store: true };
      if (last) return fold(last, 'budget');
      budget.counts.unstored++;
      budget.counts.lastAt = now;
      return { drop: true };
    },
    /** Remember the row a hit was stored as (the target of later folds). */
    stored(row: NewHitRow, hit: HitRow): void {
      const now = row.at.getTime();
      const k = keys(row);
      const same = identical.get(k.identical);
      if (same) same.hit = hit;
      if (k.action !== null) {
        const action = current(actions, k.action, now);
        action.count++;
        action.hit = hit;
      }
      if (k.source !== null) current(sources, k.source, now).count++;
      if (row.credential) {
        const uses = current(credentialUses, k.credential, now);
        uses.count++;
        uses.hit = hit;
        if (secrets.size >= max) secrets.clear();
        const secret = secrets.get(k.secret);
        // The window runs from the secret's first stored use: past it the next use is a row again.
        if (secret && now - secret.since <= opts.windowMs) secret.hit = hit;
        else secrets.set(k.secret, { since: now, count: 1, hit });
      }
      if (pairs.size >= max) pairs.clear();
      pairs.set(k.pair, { since: now, count: 1, hit });
    },
    /** Forget everything (after a failed transaction, remembered rows may not exist). */
    reset(): void {
      for (const table of [identical, actions, sources, pairs, credentialUses, secrets]) table.clear();
    },
    budget,
  };
}

export type FloodGate = ReturnType<typeof createFloodGate>;
