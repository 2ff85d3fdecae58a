import { inArray } from 'drizzle-orm';
import { loadConfig } from '../src/config.ts';
import { closePostgres, openPostgres } from '../src/db/pg.ts';
import { tokens } from '../src/db/schema-pg.ts';
import { createPgCorrelator } from '../src/hits/correlate-pg.ts';
import { createPgHitRecorder } from '../src/hits/record-hit-pg.ts';
import { createLogger } from '../src/logger.ts';
import type { Token } from '../src/tokens/kind.ts';
import { event } from './pg.ts';

/**
 * One PostgreSQL "node" of the pg bench section, as its own process (forked by bench/pg.ts):
 * its own pool, recorder and correlator, as one listener process would have. It waits for `go`,
 * records hits from `callers` concurrent callers for `seconds`, reports hits, latencies and its
 * own CPU time, and closes its pool only when told to (so the parent can read the database's
 * per-backend CPU while the backends still exist).
 */
interface Setup {
  url: string;
  tokenIds: string[];
  seconds: number;
  callers: number;
  node: number;
}

export interface NodeReport {
  node: number;
  hits: number;
  latencies: number[];
  cpuMs: number;
}

const send = (m: unknown) => process.send?.(m);

process.once('message', async (setup: Setup) => {
  const log = createLogger('silent');
  const config = loadConfig({ DATA_DIR: '.', ALERT_TO: 'soc@corp.example' });
  const db = await openPostgres({ url: setup.url, max: 8, migrate: false });
  const list = (await db.select().from(tokens).where(inArray(tokens.id, setup.tokenIds))) as Token[];
  const recorder = createPgHitRecorder({ db, log, correlator: createPgCorrelator({ db, config, log }) });
  // Warm the pool's connections and prepared paths before the clock starts.
  await Promise.all(Array.from({ length: 8 }, () => db.$client.query('select 1')));
  send({ ready: true });
  await new Promise((resolve) => process.once('message', resolve));

  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  const until = Date.now() + setup.seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: setup.callers }, async () => {
      while (Date.now() < until) {
        const i = n++;
        const hit = event(list[i % list.length] as Token, i, setup.node);
        const t = performance.now();
        await recorder.record(hit);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  send({ node: setup.node, hits: latencies.length, latencies, cpuMs: (used.user + used.system) / 1000 } satisfies NodeReport);
  await new Promise((resolve) => process.once('message', resolve));
  await recorder.close();
  await closePostgres(db);
  process.exit(0);
});
