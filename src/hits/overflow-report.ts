import { hostname } from 'node:os';
import { setSetting, settingsWithPrefix } from '../db/queries/settings.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { newOverflowCounts, type OverflowCounts, type StorageBudget } from './budget.ts';

/**
 * Surfaces what the storage budget and the public listener's rate limit turned away, so a
 * flood is seen rather than silently absorbed: one warn line per interval while it lasts, and
 * the process's totals in the `settings` table (`storage-overflow:<host>:<pid>`), which the admin
 * dashboard reads from whichever process serves it (roles may run apart).
 */

const PREFIX = 'storage-overflow:';

/** What one process reported. */
export interface OverflowReport extends OverflowCounts {
  host: string;
  pid: number;
  since: number;
}

export interface OverflowReporter {
  /** Report now if anything changed (tests, shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Report every `intervalMs` while counts change. @default 60 s */
export function startOverflowReporter(db: AnyDb, log: Logger, budget: StorageBudget, intervalMs = 60_000): OverflowReporter {
  const key = `${PREFIX}${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 64)}:${process.pid}`;
  const since = Date.now();
  let reported = JSON.stringify(notable(newOverflowCounts()));
  let last = newOverflowCounts();
  let writing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    writing = writing.then(async () => {
      // Identical repeats fold every day (resolver retries, a reloading page): only what the
      // budgets turned away is news. They are in the stored totals all the same.
      const now = JSON.stringify(notable(budget.counts));
      if (now === reported) return;
      const c = budget.counts;
      log.warn(
        {
          event: 'storage-budget',
          unstored: c.unstored - last.unstored,
          rateLimited: c.rateLimited - last.rateLimited,
          folded: Object.fromEntries(Object.entries(c.folded).map(([k, v]) => [k, v - last.folded[k as keyof OverflowCounts['folded']]])),
          budgetPerMinute: budget.perMinute,
        },
        'flood control: hits folded into earlier rows, counted without a row, or refused by the rate limit since the last report',
      );
      try {
        await setSetting(db, key, { ...c, host: hostname(), pid: process.pid, since } satisfies OverflowReport);
        reported = now;
        last = structuredClone(c);
      } catch (err) {
        log.error({ err }, 'could not store the storage-budget counts');
      }
    });
    return writing;
  };
  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();
  return {
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

function notable(c: OverflowCounts): number[] {
  return [c.unstored, c.rateLimited, c.folded.action, c.folded.source, c.folded.budget];
}

/** Totals reported by every process within `withinMs` (the dashboard's view of the last day). */
export async function recentOverflow(db: AnyDb, withinMs = 86_400_000): Promise<{ unstored: number; rateLimited: number; folded: number; lastAt: number | null; processes: number }> {
  const rows = await settingsWithPrefix<OverflowReport>(db, PREFIX);
  const cutoff = Date.now() - withinMs;
  const out = { unstored: 0, rateLimited: 0, folded: 0, lastAt: null as number | null, processes: 0 };
  for (const { value, updatedAt } of rows) {
    if (!value || (updatedAt?.getTime() ?? 0) < cutoff) continue;
    out.processes++;
    out.unstored += value.unstored ?? 0;
    out.rateLimited += value.rateLimited ?? 0;
    out.folded += Object.values(value.folded ?? {}).reduce((a, b) => a + b, 0);
    if (value.lastAt && (out.lastAt === null || value.lastAt > out.lastAt)) out.lastAt = value.lastAt;
  }
  return out;
}
