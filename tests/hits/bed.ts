import type { Config } from '../../src/config.ts';
import { createAlertPipeline } from '../../src/alerts/pipeline.ts';
import { closePostgres, openPostgres } from '../../src/db/pg.ts';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { getIncident, incidentEntities } from '../../src/db/queries/incidents.ts';
import type { AlertRow, EntityRow, HitRow, IncidentRow } from '../../src/db/schema.ts';
import type { AnyDb } from '../../src/db/store.ts';
import { createClassifier } from '../../src/hits/classify.ts';
import { createPgCorrelator } from '../../src/hits/correlate-pg.ts';
import { createFloodGate } from '../../src/hits/flood.ts';
import { createPgHitRecorder } from '../../src/hits/record-hit-pg.ts';
import { createHitRecorder, type HitEvent, type HitRecorder } from '../../src/hits/record-hit.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { makeToken, silentLog, tempDir, testConfig, testDb } from '../helpers.ts';
import { createTestPg } from '../pg.ts';

/**
 * A test bed for the intrusion logic on the database of this test pass: SQLite, or a throwaway
 * PostgreSQL database when TEST_DATABASE=postgres (`npm run test:pg`). The same suites run on
 * both, through the same recorder and correlator the server wires (no worker: tests read the
 * outbox rows themselves).
 */
export interface Bed {
  db: AnyDb;
  config: Config;
  dialect: 'sqlite' | 'postgres';
  /** Record a hit; resolves once it is stored and on its intrusion. */
  hit(e: Partial<Omit<HitEvent, 'token'>> & { token: Token }): Promise<HitRow>;
  token(name: string, extra?: Record<string, unknown>): Promise<Token>;
  incidentOf(h: HitRow): Promise<IncidentRow>;
  entities(incidentId: number): Promise<EntityRow[]>;
  alerts(): Promise<AlertRow[]>;
  cleanup(): Promise<void>;
}

export async function intrusionBed(env: Record<string, string> = {}, opts: { flood?: boolean } = {}): Promise<Bed> {
  const dir = tempDir();
  const base = { ALERT_WORKER_ENABLED: 'false', ALERT_TO: 'soc@corp.example', ...env };
  const flood = opts.flood ? createFloodGate({ threshold: 5, windowMs: 60_000 }) : undefined;
  let db: AnyDb;
  let config: Config;
  let recorder: HitRecorder;
  let close: () => Promise<void>;
  const dialect = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
  if (dialect === 'postgres') {
    const pgt = await createTestPg();
    const pg = await openPostgres({ url: pgt.url, max: 4 });
    config = testConfig(dir.dir, { DATABASE_URL: pgt.url, ...base });
    const correlator = createPgCorrelator({ db: pg, config, log: silentLog });
    recorder = createPgHitRecorder({ db: pg, log: silentLog, correlator, classify: createClassifier(pg, config), flood });
    db = pg;
    close = async () => {
      await recorder.close();
      await closePostgres(pg);
      await pgt.drop();
    };
  } else {
    const t = testDb();
    config = testConfig(t.dir, base);
    const p = createAlertPipeline({ db: t.db, config, log: silentLog });
    recorder = createHitRecorder({ db: t.db, log: silentLog, correlator: p.correlator, classify: p.classify, flood });
    db = t.db;
    close = async () => {
      await recorder.close();
      t.cleanup();
    };
  }
  return {
    db,
    config,
    dialect,
    hit: (e) => recorder.record({ channel: 'http', ...e }),
    token: async (name, extra = {}) => (await makeToken(db, config, { kind: 'web-bug', name, ...extra })).token as Token,
    incidentOf: async (h) => (await getIncident(db, h.incidentId ?? -1)) ?? Promise.reject(new Error(`hit ${h.id} has no incident`)),
    entities: (id) => incidentEntities(db, id),
    alerts: async () => (await listAlerts(db, { limit: 500 })).reverse(),
    async cleanup() {
      await close();
      dir.cleanup();
    },
  };
}
