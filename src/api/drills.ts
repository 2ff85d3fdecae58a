import type { Router } from 'express';
import { z } from 'zod';
import { guardedRouter } from '../admin/guard.ts';
import { deleteDrillRun, getDrillRun, recentDrillRuns } from '../db/queries/drills.ts';
import type { DrillRunRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { audit } from '../db/queries/audit.ts';
import { listScenarios, runScenario } from '../drills/run.ts';
import { AppError, notFound } from '../errors.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

const runBody = z
  .object({
    scenario: z.string({ message: 'is required' }).min(1, 'is required').max(100),
    /** Longest wait for the drill's alerts to go out, in seconds. */
    alertWaitSeconds: z.coerce.number().int().min(0, 'must be 0-120').max(120, 'must be 0-120').optional(),
  })
  .strict();
const idParam = z.object({ id: z.string().regex(/^[0-9a-z]{1,32}$/, 'is not a drill run id') });

export function drillRunJson(r: DrillRunRow) {
  return { id: r.id, scenario: r.scenario, status: r.status, startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null, createdBy: r.createdBy, report: r.report };
}

/** /api/v1/drills: purple-team scenarios replayed against the real listeners (src/drills/run.ts). */
export function drillRoutes(deps: AppDeps): Router {
  const { db } = deps;
  const r = guardedRouter('/api/v1');
  r.get('/drills', async (_req, res) => {
    res.json({ scenarios: listScenarios(), items: (await recentDrillRuns(db)).map(drillRunJson) });
  });
  r.post('/drills', async (req, res) => {
    const body = parse(runBody, req.body ?? {});
    if (!deps.listening) throw new AppError('conflict', 'drills run in a server process (honeytrail serve), which sends to its own listeners');
    const { row } = await runScenario(deps, { scenario: body.scenario, alertWaitMs: body.alertWaitSeconds === undefined ? undefined : body.alertWaitSeconds * 1000, actor: actorOf(res.locals) });
    res.status(201).location(`/api/v1/drills/${row.id}`).json(drillRunJson(row));
  });
  r.get('/drills/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await getDrillRun(db, id);
    if (!row) throw notFound('drill run');
    res.json(drillRunJson(row));
  });
  r.delete('/drills/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!(await deleteDrillRun(db, id))) throw notFound('drill run');
    await audit(db, { actor: actorOf(res.locals).id, action: 'drill.delete', targetType: 'drill', targetId: id });
    res.status(204).end();
  });
  return r;
}
