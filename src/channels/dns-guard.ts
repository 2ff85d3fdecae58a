import type { Logger } from '../logger.ts';

/**
 * Bounds of the attacker-facing DNS listener: per-source rate limiting and bounded logging of
 * bad input. A flood from one address is dropped before any parsing, so it cannot starve
 * the queries of other resolvers, and it cannot flood the log either.
 */

export interface RateLimiter {
  /** True when `source` may be answered now (takes one token from its bucket). */
  allow(source: string): boolean;
}

export interface RateLimitOptions {
  /** Queries per second per source; 0 disables the limit. */
  perSecond: number;
  /** Bucket size (burst). @default 2 * perSecond */
  burst?: number;
  /** Most sources tracked; the table is reset when full, so spoofed sources cannot grow it. @default 10000 */
  maxSources?: number;
  now?: () => number;
}

/** A token bucket per source address. */
export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  if (opts.perSecond <= 0) return { allow: () => true };
  const rate = opts.perSecond / 1000;
  const burst = opts.burst ?? opts.perSecond * 2;
  const max = opts.maxSources ?? 10_000;
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    allow(source) {
      const t = now();
      let b = buckets.get(source);
      if (!b) {
        if (buckets.size >= max) buckets.clear();
        b = { tokens: burst, at: t };
        buckets.set(source, b);
      } else {
        b.tokens = Math.min(burst, b.tokens + (t - b.at) * rate);
        b.at = t;
      }
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
  };
}

export type DropReason = 'malformed' | 'oversize' | 'rate-limited' | 'not-a-query' | 'tcp-limit' | 'overload';

export interface DropLog {
  /** Count one dropped or refused input; logged at debug each, summarised at warn at most once per interval. */
  note(reason: DropReason, source: string, detail?: string): void;
  readonly counts: Readonly<Record<DropReason, number>>;
}

/** Bounded logging of bad input: one debug line each (cheap when debug is off), one warn summary per interval. */
export function createDropLog(log: Logger, intervalMs = 60_000, now: () => number = Date.now): DropLog {
  const counts: Record<DropReason, number> = { malformed: 0, oversize: 0, 'rate-limited': 0, 'not-a-query': 0, 'tcp-limit': 0, overload: 0 };
  let pending: Partial<Record<DropReason, number>> = {};
  let lastWarn = 0;
  return {
    counts,
    note(reason, source, detail) {
      counts[reason]++;
      pending[reason] = (pending[reason] ?? 0) + 1;
      if (log.isLevelEnabled('debug')) log.debug({ event: 'dns-drop', reason, source, detail: detail?.slice(0, 200) }, 'dns input dropped');
      const t = now();
      if (t - lastWarn >= intervalMs) {
        log.warn({ event: 'dns-drop-summary', dropped: pending, lastSource: source }, 'dns listener dropped bad or excess input');
        pending = {};
        lastWarn = t;
      }
    },
  };
}
