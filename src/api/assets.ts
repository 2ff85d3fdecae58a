import { guardedRouter } from '../admin/guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { deleteAsset, getAsset, insertAsset, insertAssets, listAssets, updateAsset } from '../db/queries/assets.ts';
import { audit } from '../db/queries/audit.ts';
import type { AssetRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { parseCsv } from '../csv.ts';
import { AppError, notFound } from '../errors.ts';
import { HOST_NAME_MESSAGE, HOST_NAME_PATTERN, isCidr } from '../net.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

const criticality = z.enum(['low', 'medium', 'high', 'critical'], { message: 'must be low, medium, high or critical' });
const hostname = z
  .string()
  .trim()
  .max(255)
  .regex(HOST_NAME_PATTERN, HOST_NAME_MESSAGE);

/** An asset names a CIDR or an address, a host name, or both. */
export const assetInput = z
  .object({
    cidr: z.string().trim().refine(isCidr, 'must be an IP address or CIDR such as 10.20.4.0/24').optional(),
    hostname: hostname.optional(),
    label: z.string().trim().min(1, 'is required').max(200),
    segment: z.string().trim().max(200).optional(),
    criticality: criticality.optional(),
  })
  .strict()
  .refine((a) => a.cidr || a.hostname, { message: 'give a cidr, a hostname, or both', path: ['cidr'] });

const assetPatch = z
  .object({
    cidr: z.string().trim().refine(isCidr, 'must be an IP address or CIDR such as 10.20.4.0/24').nullable().optional(),
    hostname: hostname.nullable().optional(),
    label: z.string().trim().min(1).max(200).optional(),
    segment: z.string().trim().max(200).nullable().optional(),
    criticality: criticality.optional(),
  })
  .strict();

const idParam = z.object({ id: z.coerce.number().int().positive('is not an asset id') });

/**
 * Parse a network-map CSV: a header row naming some of `cidr,hostname,label,segment,criticality`
 * (any order), then one asset per row. Every bad row is reported with its line number.
 */
export function parseAssetCsv(text: string): z.infer<typeof assetInput>[] {
  const lines = parseCsv(text);
  const header = (lines.shift() ?? []).map((h) => h.toLowerCase());
  const known = ['cidr', 'hostname', 'label', 'segment', 'criticality'];
  const unknown = header.filter((h) => !known.includes(h));
  if (!header.includes('label') || unknown.length) {
    throw new AppError('invalid_request', 'CSV header must name label and any of cidr, hostname, segment, criticality', {
      header: unknown.length ? `unknown columns: ${unknown.join(', ')}` : 'missing label column',
    });
  }
  const fields: Record<string, string> = {};
  const rows: z.infer<typeof assetInput>[] = [];
  lines.forEach((cells, i) => {
    const obj = Object.fromEntries(header.map((h, j) => [h, cells[j] || undefined]).filter(([, v]) => v !== undefined));
    const parsed = assetInput.safeParse(obj);
    if (parsed.success) rows.push(parsed.data);
    else fields[`line ${i + 2}`] = parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ');
  });
  if (Object.keys(fields).length) throw new AppError('invalid_request', `${Object.keys(fields).length} CSV rows are invalid; nothing was imported`, fields);
  return rows;
}

export function assetJson(a: AssetRow) {
  return { id: a.id, cidr: a.cidr, hostname: a.hostname, label: a.label, segment: a.segment, criticality: a.criticality, createdAt: a.createdAt.toISOString() };
}

/** /api/v1/assets: the network map. POST /assets/import takes text/csv. */
export function assetRoutes(deps: AppDeps): Router {
  const { db } = deps;
  const r = guardedRouter('/api/v1');
  r.get('/assets', async (req, res) => {
    const q = parse(z.object({ limit: z.coerce.number().int().min(1).max(5000).default(500), offset: z.coerce.number().int().min(0).default(0) }), req.query);
    const { items, total } = await listAssets(db, q.limit, q.offset);
    res.json({ items: items.map(assetJson), total });
  });
  r.post('/assets', async (req, res) => {
    const row = await insertAsset(db, parse(assetInput, req.body ?? {}));
    await audit(db, { actor: actorOf(res.locals).id, action: 'asset.create', targetType: 'asset', targetId: String(row.id) });
    res.status(201).json(assetJson(row));
  });
  r.post('/assets/import', async (req, res) => {
    if (typeof req.body !== 'string') throw new AppError('invalid_request', 'send the CSV with Content-Type: text/csv');
    const rows = parseAssetCsv(req.body);
    const imported = await insertAssets(db, rows);
    await audit(db, { actor: actorOf(res.locals).id, action: 'asset.import', targetType: 'asset', details: { imported } });
    res.status(201).json({ imported });
  });
  r.get('/assets/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await getAsset(db, id);
    if (!row) throw notFound('asset');
    res.json(assetJson(row));
  });
  r.patch('/assets/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await updateAsset(db, id, parse(assetPatch, req.body ?? {}));
    if (!row) throw notFound('asset');
    await audit(db, { actor: actorOf(res.locals).id, action: 'asset.update', targetType: 'asset', targetId: String(id) });
    res.json(assetJson(row));
  });
  r.delete('/assets/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!(await deleteAsset(db, id))) throw notFound('asset');
    await audit(db, { actor: actorOf(res.locals).id, action: 'asset.delete', targetType: 'asset', targetId: String(id) });
    res.status(204).end();
  });
  return r;
}
