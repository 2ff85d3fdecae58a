import { guardedRouter } from './guard.ts';
import { Router } from 'express';
import { exportQuery } from '../api/exports.ts';
import { parse } from '../api/validate.ts';
import { audit } from '../db/queries/audit.ts';
import { sendExport } from '../exports/respond.ts';
import { uiActor, type UiContext } from './context.ts';

/** Downloads for the signed-in team: /export/hits and /export/incidents (?format=csv|jsonl|stix). */
export function exportPages(ui: UiContext): Router {
  const r = guardedRouter();
  for (const what of ['hits', 'incidents'] as const) {
    r.get(`/export/${what}`, async (req, res) => {
      const q = parse(exportQuery, req.query);
      const actor = uiActor(req, res);
      await audit(ui.deps.db, { actor: actor.id, action: `export.${what}`, ip: actor.ip, details: { format: q.format } });
      await sendExport(res, ui.deps, { what, ...q });
    });
  }
  return r;
}
