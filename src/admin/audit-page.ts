import { guardedRouter } from './guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { countAudit } from '../db/queries/admin-views.ts';
import { listAudit } from '../db/queries/audit.ts';
import { pager, type UiContext } from './context.ts';

const AUDIT_PER_PAGE = 50;

/** The audit log: who signed in, created, downloaded, changed or deleted what, newest first. */
export function auditPage(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = guardedRouter();
  r.get('/audit', async (req, res) => {
    const page = z.coerce.number().int().min(1).max(100_000).catch(1).parse(req.query.page ?? 1);
    const rows = await listAudit(db, AUDIT_PER_PAGE, (page - 1) * AUDIT_PER_PAGE);
    const total = await countAudit(db);
    ui.views.render(res, 'audit', {
      title: 'Audit log',
      nav: 'audit',
      entries: rows.map((e) => ({ ...e, detailsText: e.details ? JSON.stringify(e.details) : '' })),
      pager: pager('/audit', {}, page, AUDIT_PER_PAGE, total),
    });
  });

  return r;
}
