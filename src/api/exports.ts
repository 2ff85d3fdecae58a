import { guardedRouter } from '../admin/guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { INCIDENT_STATUSES } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { sendExport } from '../exports/respond.ts';
import { isTokenId } from '../tokens/ids.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

/** Query of every export (API and admin UI): format, time filter, token or incident status. */
export const exportQuery = z.object({
  format: z.enum(['csv', 'jsonl', 'stix'], { message: 'must be csv, jsonl or stix' }).default('jsonl'),
  since: z
    .string()
    .transform((v) => (/^\d+$/.test(v) ? new Date(Number(v)) : new Date(v)))
    .refine((d) => !Number.isNaN(d.getTime()), 'must be an ISO 8601 time or epoch milliseconds')
    .optional(),
  tokenId: z.string().refine(isTokenId, 'is not a token id').optional(),
  status: z.enum(INCIDENT_STATUSES, { message: `must be one of ${INCIDENT_STATUSES.join(', ')}` }).optional(),
});

/** GET /exports/hits and /exports/incidents ?format=csv|jsonl|stix: for SIEMs, spreadsheets and threat-intel platforms. */
export function exportRoutes(deps: AppDeps): Router {
  const r = guardedRouter('/api/v1');
  for (const what of ['hits', 'incidents'] as const) {
    r.get(`/exports/${what}`, async (req, res) => {
      const q = parse(exportQuery, req.query);
      await audit(deps.db, { actor: actorOf(res.locals).id, action: `export.${what}`, details: { format: q.format } });
      await sendExport(res, deps, { what, ...q });
    });
  }
  return r;
}
