import { guardedRouter } from './guard.ts';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { getFeed, listFeeds } from '../db/queries/feeds.ts';
import { AppError } from '../errors.ts';
import { createFeed, createFeedInput, feedJson, pullFeed, removeFeed } from '../intel/feeds.ts';
import { uiActor, type UiContext } from './context.ts';
import { errorSummary, formParse } from './messages.ts';

const idParam = z.object({ id: z.coerce.number().int().positive() });
const LABELS = {
  name: { label: 'Name', id: 'f-name' },
  kind: { label: 'Kind', id: 'f-kind' },
  url: { label: 'URL', id: 'f-url' },
  collection: { label: 'Collection', id: 'f-collection' },
  label: { label: 'Label on hits', id: 'f-label' },
  intervalMinutes: { label: 'Pull every (minutes)', id: 'f-interval' },
  'auth.type': { label: 'Credentials', id: 'f-auth' },
  'auth.username': { label: 'User name', id: 'f-user' },
  'auth.secret': { label: 'Password or token', id: 'f-secret' },
};

/** Form body -> feed input (blanks omitted so the shared schema applies its rules). */
function feedFromBody(body: Record<string, unknown>) {
  const text = (k: string) => (typeof body[k] === 'string' && (body[k] as string).trim() ? (body[k] as string).trim() : undefined);
  const type = text('authType') ?? 'none';
  return {
    name: text('name') ?? '',
    kind: text('kind') ?? '',
    url: text('url') ?? '',
    collection: text('collection'),
    label: text('label') ?? '',
    intervalMinutes: text('intervalMinutes') ?? 60,
    auth: type === 'none' ? undefined : { type, username: text('authUser'), secret: typeof body.authSecret === 'string' && body.authSecret ? body.authSecret : undefined },
  };
}

/** Threat-intel feeds: each feed's last pull, counts and error; add, pull now, delete (with confirmation). */
export function feedPages(ui: UiContext): Router {
  const { db, config } = ui.deps;
  const r = guardedRouter();

  const renderList = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const feeds = (await listFeeds(db)).map(feedJson);
    ui.views.render(res, 'intel-feeds', { title: 'Threat-intel feeds', nav: 'feeds', feeds, form: { kind: 'taxii', intervalMinutes: '60', authType: 'none' }, ...extra }, status);
  };

  r.get('/intel/feeds', async (_req, res) => renderList(res));

  r.post('/intel/feeds', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(createFeedInput, feedFromBody(body));
    // The secret is never echoed back into the form.
    const form = { ...body, authSecret: '' };
    if (!parsed.ok) return renderList(res, { form, errors: parsed.fields, summary: errorSummary(parsed.fields, LABELS) }, 400);
    try {
      await createFeed(db, parsed.data, uiActor(req, res));
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'conflict') throw err;
      const fields = err.fields ?? { name: err.message };
      return renderList(res, { form, errors: fields, summary: errorSummary(fields, LABELS) }, 409);
    }
    res.redirect(303, '/intel/feeds?msg=saved');
  });

  const loadFeed = async (req: Request) => {
    const id = idParam.safeParse(req.params);
    const feed = id.success ? await getFeed(db, id.data.id) : undefined;
    if (!feed) throw new AppError('not_found', 'There is no feed at this address.');
    return feed;
  };

  r.post('/intel/feeds/:id/pull', async (req, res) => {
    const feed = await loadFeed(req);
    await pullFeed({ db, config, by: `ui-${process.pid}` }, feed.id);
    res.redirect(303, '/intel/feeds?msg=feed_pulled');
  });

  r.get('/intel/feeds/:id/delete', async (req, res) => {
    const feed = await loadFeed(req);
    ui.views.render(res, 'confirm', {
      title: `Delete ${feed.name}`,
      nav: 'feeds',
      heading: `Delete the feed "${feed.name}"?`,
      text: `Its ${feed.indicatorCount} indicators are removed with it: hits from those sources no longer carry the label ${feed.label}.`,
      action: `/intel/feeds/${feed.id}/delete`,
      button: 'Delete feed',
      cancel: '/intel/feeds',
    });
  });

  r.post('/intel/feeds/:id/delete', async (req, res) => {
    const feed = await loadFeed(req);
    await removeFeed(db, feed.id, uiActor(req, res));
    res.redirect(303, '/intel/feeds?msg=deleted');
  });

  return r;
}
