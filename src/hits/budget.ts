import type { NewHitRow } from '../db/schema.ts';

/**
 * The global storage budget of one process: bytes of new hit rows per minute, as a token
 * bucket holding one minute's worth. Flood folding (flood.ts) bounds what one source can store;
 * this bounds what any flood can, many sources or spoofed ones included, so the database cannot
 * grow faster than the stated rate. What does not fit is folded into a row the hit's source
 * already has for the token, or counted on the token and here but not stored as a row: never
 * silently. The counts feed /metrics, a warn line per minute and the admin dashboard.
 */

/** Why a hit was folded into an earlier row instead of being stored as one. */
export type FoldReason = 'identical' | 'action' | 'source' | 'budget';

/** What the budget and the public listener's rate limit turned away, since the process started. */
export interface OverflowCounts {
  folded: Record<FoldReason, number>;
  /** Hits counted on their token but stored as no row (over the budget, nothing to fold into). */
  unstored: number;
  /** Public HTTP requests refused by PUBLIC_RATE_LIMIT (answered 503, not recorded). */
  rateLimited: number;
  /** When a hit last went unstored or a request was refused (epoch ms). */
  lastAt: number | null;
}

export interface StorageBudget {
  /** Take `bytes` for a new row; false when the budget cannot cover it now. */
  take(bytes: number): boolean;
  /** Bytes available now. */
  available(): number;
  readonly counts: OverflowCounts;
  /** Bytes per minute, 0 when unlimited. */
  readonly perMinute: number;
}

/** Estimated bytes a row adds to the database: its text and JSON (UTF-8) plus fixed overhead for numbers and index entries. */
export function rowBytes(row: NewHitRow): number {
  let n = ROW_OVERHEAD;
  for (const v of Object.values(row)) {
    if (typeof v === 'string') n += Buffer.byteLength(v);
    else if (v !== null && typeof v === 'object' && !(v instanceof Date)) n += Buffer.byteLength(JSON.stringify(v));
  }
  return n;
}

/** Integer columns, timestamps and the entries of the hits table's indexes, per row (measured: see docs/security.md). */
const ROW_OVERHEAD = 512;

/**
 * What a hit from a source new to a token adds besides its row: an intrusion (its reasons and
 * summary), its entities and their index entries. Measured with `BENCH_ONLY=hostile`: 8,959
 * intrusions from as many sources took 10 MB with their entities and indexes (docs/security.md).
 */
export const INTRUSION_BYTES = 1100;

export function newOverflowCounts(): OverflowCounts {
  return { folded: { identical: 0, action: 0, source: 0, budget: 0 }, unstored: 0, rateLimited: 0, lastAt: null };
}

/** A budget of `perMinute` bytes of new rows per minute (bursts up to one minute's worth); 0 means unlimited. */
export function createStorageBudget(perMinute: number, now: () => number = Date.now): StorageBudget {
  const counts = newOverflowCounts();
  if (perMinute <= 0) return { take: () => true, available: () => Number.POSITIVE_INFINITY, counts, perMinute: 0 };
  const rate = perMinute / 60_000;
  let tokens = perMinute;
  let at = now();
  const refill = () => {
    const t = now();
    tokens = Math.min(perMinute, tokens + (t - at) * rate);
    at = t;
  };
  return {
    take(bytes) {
      refill();
      if (tokens < bytes) return false;
      tokens -= bytes;
      return true;
    },
    available() {
      refill();
      return Math.floor(tokens);
    },
    counts,
    perMinute,
  };
}
