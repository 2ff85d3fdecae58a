import type { HitRow, NewHitRow } from '../db/schema.ts';

export interface FloodOptions {
  /** Identical hits from one source stored as separate rows within the window. @default 20 */
  threshold: number;
  /** Window in which identical hits are counted. @default 60000 */
  windowMs: number;
  /** Most (source, event) pairs remembered; the table is cleared when full. @default 50000 */
  maxKeys?: number;
}

/**
 * Flood control without data loss: the first `threshold` identical hits from one source within
 * `windowMs` are stored as rows; later ones are folded into the last stored row (its
 * `repeatCount` and `lastAt` grow), so one source hammering one token cannot grow the database
 * without bound, while every distinct event (another path, agent, name or source) is a row.
 */
export function createFloodGate(opts: FloodOptions) {
  const max = opts.maxKeys ?? 50_000;
  const seen = new Map<string, { since: number; count: number; hit?: HitRow }>();
  const keyOf = (r: NewHitRow): string =>
    [r.tokenId, r.channel, r.sourceIp, r.method, r.path, r.query, r.userAgent, r.qname, r.qtype, r.mailFrom, r.mailSubject, r.credential, r.actorUser, r.actorHost].join('\u0000');
  return {
    /** The stored hit this one should be folded into, or null to store it as a row of its own. */
    foldInto(row: NewHitRow): HitRow | null {
      const key = keyOf(row);
      const now = row.at.getTime();
      let s = seen.get(key);
      if (!s || now - s.since > opts.windowMs) {
        if (seen.size >= max) seen.clear();
        s = { since: now, count: 0 };
        seen.set(key, s);
      }
      s.count++;
      return s.count > opts.threshold && s.hit ? s.hit : null;
    },
    /** Remember the row a key's hits are folded into. */
    stored(row: NewHitRow, hit: HitRow): void {
      const s = seen.get(keyOf(row));
      if (s) s.hit = hit;
    },
    /** Forget everything (after a failed transaction, remembered rows may not exist). */
    reset(): void {
      seen.clear();
    },
  };
}

export type FloodGate = ReturnType<typeof createFloodGate>;
