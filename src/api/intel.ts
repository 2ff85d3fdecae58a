import { guardedRouter } from '../admin/guard.ts';
import express, { Router } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { deleteIndicatorsByLabel, importIndicators, intelSummary } from '../db/queries/intel.ts';
import { INTEL_PURPOSES } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { getFeed, listFeeds } from '../db/queries/feeds.ts';
import { changeFeed, createFeed, createFeedInput, feedJson, pullFeed, removeFeed, updateFeedInput } from '../intel/feeds.ts';
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
  // These routes are mounted before the API's own body parser (the import takes 10 MB); feeds take small JSON.
  const small = express.json({ limit: '64kb' });
  const feedId = z.object({ id: z.coerce.number().int().positive('is not a feed id') });
  const pullCtx = { db: deps.db, config: deps.config, by: `api-${process.pid}` };
  r.get('/intel/feeds', async (_req, res) => {
    res.json({ items: (await listFeeds(deps.db)).map(feedJson) });
  });
  r.post('/intel/feeds', small, async (req, res) => {
    const input = parse(createFeedInput, req.body ?? {});
    const feed = await createFeed(deps.db, input, actorOf(res.locals));
    res.status(201).location(`/api/v1/intel/feeds/${feed.id}`).json(feedJson(feed));
  });
  r.get('/intel/feeds/:id', async (req, res) => {
    const { id } = parse(feedId, req.params);
    const feed = await getFeed(deps.db, id);
    if (!feed) throw notFound('feed');
    res.json(feedJson(feed));
  });
  r.patch('/intel/feeds/:id', small, async (req, res) => {
    const { id } = parse(feedId, req.params);
    res.json(feedJson(await changeFeed(deps.db, id, parse(updateFeedInput, req.body ?? {}), actorOf(res.locals))));
  });
  r.delete('/intel/feeds/:id', async (req, res) => {
    const { id } = parse(feedId, req.params);
    await removeFeed(deps.db, id, actorOf(res.locals));
    res.status(204).end();
  });
  r.post('/intel/feeds/:id/pull', small, async (req, res) => {
    const { id } = parse(feedId, req.params);
    if (!(await getFeed(deps.db, id))) throw notFound('feed');
    const feed = await pullFeed(pullCtx, id);
    if (!feed) throw new AppError('conflict', 'this feed is being pulled right now; try again when that pull is done');
    await audit(deps.db, { actor: actorOf(res.locals).id, action: 'intel.feed.pull', targetType: 'intel_feed', targetId: String(id), details: { ok: !feed.lastError, indicators: feed.indicatorCount } });
    res.status(feed.lastError ? 502 : 200).json(feedJson(feed));
  });
  return r;
}
