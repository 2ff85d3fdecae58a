import { lastExpectedHits, tokensWithFreshnessPolicy } from '../db/queries/freshness.ts';
import type { TokenRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';

/**
 * Decoys that stay fresh: which current decoys need a person. Three lists:
 * - due: past `expiresAt` (it still fires) or past its rotation policy (`rotateEveryDays`
 *   after this generation was made);
 * - missing: `honeytrail verify` found its planted file gone;
 * - unseen: marked `expectSeenEveryDays` (a scheduled scan, backup or antivirus run covered
 *   by an expected-activity rule should touch it), and no hit absorbed by an expected-activity
 *   rule in that many days (a decoy younger than the window is not yet overdue). The check
 *   that stopped seeing it may have been moved, or the decoy may be gone.
 * Only the newest generation of a rotated decoy is considered; at most `limit` decoys with a
 * policy are examined (newest first).
 */

const DAY = 86_400_000;

export interface DueDecoy {
  token: TokenRow;
  /** `expired` or `rotation`. */
  why: 'expired' | 'rotation';
  since: Date;
}

export interface UnseenDecoy {
  token: TokenRow;
  everyDays: number;
  /** The last expected-activity hit, if any in a longer look-back (null: none found). */
  lastSeenAt: Date | null;
}

export interface Freshness {
  due: DueDecoy[];
  missing: TokenRow[];
  unseen: UnseenDecoy[];
}

/** When a rotation is due for this token (null: no expiry and no policy). */
export function rotationDueAt(t: Pick<TokenRow, 'expiresAt' | 'rotateEveryDays' | 'createdAt'>): { why: DueDecoy['why']; at: Date } | null {
  const policy = t.rotateEveryDays ? new Date(t.createdAt.getTime() + t.rotateEveryDays * DAY) : null;
  if (t.expiresAt && (!policy || t.expiresAt <= policy)) return { why: 'expired', at: t.expiresAt };
  return policy ? { why: 'rotation', at: policy } : null;
}

export async function freshness(db: AnyDb, now = new Date(), limit = 2000): Promise<Freshness> {
  const rows = await tokensWithFreshnessPolicy(db, limit);
  const due: DueDecoy[] = [];
  for (const token of rows) {
    const d = rotationDueAt(token);
    if (d && d.at <= now) due.push({ token, why: d.why, since: d.at });
  }
  const watched = rows.filter((t) => t.expectSeenEveryDays && t.enabled);
  const longest = Math.max(0, ...watched.map((t) => t.expectSeenEveryDays ?? 0));
  const seen = await lastExpectedHits(
    db,
    watched.map((t) => t.id),
    new Date(now.getTime() - 4 * longest * DAY),
  );
  const unseen: UnseenDecoy[] = [];
  for (const token of watched) {
    const every = token.expectSeenEveryDays ?? 0;
    const windowStart = now.getTime() - every * DAY;
    const last = seen.get(token.id) ?? null;
    if (token.createdAt.getTime() <= windowStart && (!last || last.getTime() < windowStart)) unseen.push({ token, everyDays: every, lastSeenAt: last });
  }
  return {
    due: due.sort((a, b) => a.since.getTime() - b.since.getTime()),
    missing: rows.filter((t) => t.missingAt),
    unseen,
  };
}
