import { guardedRouter } from '../admin/guard.ts';
import express, { Router } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { deleteIndicatorsByLabel, importIndicators, intelSummary } from '../db/queries/intel.ts';
import { INTEL_PURPOSES } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { parseIntel } from '../intel/parse.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

const importQuery = z.object({
  label: z.string().trim().min(1, 'is required (e.g. the APT group the indicators belong to)').max(100),
  source: z.string().trim().max(200).optional(),
  purpose: z.enum(INTEL_PURPOSES, { message: `must be one of ${INTEL_PURPOSES.join(', ')}` }).default('threat'),
});

/**
 * /api/v1/intel: import IoC lists (text, CSV or a STIX 2.1 bundle) under a label such as an
 * APT group; hits from matching sources carry the label into alerts and raise severity. With
 * `purpose=scanner` the list is the published ranges of a link-checking service instead: hits
 * from them are classified `scanner` (network evidence, never a user agent).
 */
export function intelRoutes(deps: AppDeps): Router {
  const r = guardedRouter('/api/v1');
  r.post('/intel/import', express.json({ type: ['application/stix+json', 'application/json'], limit: '10mb' }), express.text({ type: ['text/*'], limit: '10mb' }), async (req, res) => {
    const q = parse(importQuery, req.query);
    const contentType = req.get('content-type') ?? 'text/plain';
    if (req.body === undefined || (typeof req.body === 'object' && Object.keys(req.body as object).length === 0 && !contentType.includes('json'))) {
      throw new AppError('invalid_request', 'send indicators as text/plain (one per line), text/csv, or a STIX bundle (application/json)');
    }
    const list = parseIntel(req.body as string | object, q.label, q.source ?? null, contentType, q.purpose);
    const added = await importIndicators(deps.db, list);
    await audit(deps.db, { actor: actorOf(res.locals).id, action: 'intel.import', details: { label: q.label, purpose: q.purpose, received: list.length, added } });
    res.status(201).json({ label: q.label, purpose: q.purpose, received: list.length, added });
  });
  r.get('/intel', async (_req, res) => {
    res.json({ items: await intelSummary(deps.db) });
  });
  r.delete('/intel', async (req, res) => {
    const { label } = parse(z.object({ label: z.string().min(1, 'is required') }), req.query);
    const removed = await deleteIndicatorsByLabel(deps.db, label);
    await audit(deps.db, { actor: actorOf(res.locals).id, action: 'intel.delete', details: { label, removed } });
    res.json({ label, removed });
  });
  return r;
}
