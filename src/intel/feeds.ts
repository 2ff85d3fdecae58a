import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { audit } from '../db/queries/audit.ts';
import { applyFeedItems, claimFeed, deleteFeed, dueFeedIds, getFeed, insertFeed, syncFeedIndicators, updateFeed } from '../db/queries/feeds.ts';
import { FEED_AUTHS, FEED_KINDS, type IntelFeedRow } from '../db/schema.ts';
import { isUniqueViolation, type AnyDb } from '../db/store.ts';
import { AppError, notFound } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { pullMisp } from './misp.ts';
import { pullTaxii, type FeedAccess } from './taxii.ts';

/**
 * Subscribed threat-intel feeds: a TAXII 2.1 collection or a MISP feed, each a labelled source
 * whose indicators follow the feed (an object revoked, expired or gone from the feed is removed
 * here). Pulled on the feed's interval by the back-office process (`startFeedScheduler`) and on
 * demand; a pull first claims the feed with one row update, so processes sharing a PostgreSQL
 * database never pull one feed twice at once.
 */

const url = z
  .string()
  .trim()
  .url('must be a URL')
  .max(2048)
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL');

const feedFields = {
  name: z.string().trim().min(1, 'is required').max(100),
  kind: z.enum(FEED_KINDS, { message: `must be one of ${FEED_KINDS.join(', ')}` }),
  url,
  collection: z.string().trim().min(1).max(200).optional(),
  label: z.string().trim().min(1, 'is required (the name hits from its indicators carry, e.g. the feed or group)').max(100),
  intervalMinutes: z.coerce.number().int('must be whole minutes').min(5, 'must be at least 5 minutes').max(10_080, 'must be at most a week').default(60),
  enabled: z.boolean({ message: 'must be true or false' }).default(true),
  auth: z
    .object({
      type: z.enum(FEED_AUTHS, { message: `must be one of ${FEED_AUTHS.join(', ')}` }),
      username: z.string().max(200).optional(),
      secret: z.string().min(1).max(4096).optional(),
    })
    .strict()
    .optional(),
};

export const createFeedInput = z
  .object(feedFields)
  .strict()
  .superRefine((v, ctx) => {
    if (v.kind === 'taxii' && !v.collection) ctx.addIssue({ code: 'custom', path: ['collection'], message: 'a TAXII feed needs the collection id or title' });
    authProblems(v.auth, ctx);
  });
export type CreateFeedInput = z.infer<typeof createFeedInput>;

export const updateFeedInput = z
  .object({
    name: feedFields.name.optional(),
    url: url.optional(),
    collection: feedFields.collection,
    label: feedFields.label.optional(),
    intervalMinutes: z.coerce.number().int().min(5, 'must be at least 5 minutes').max(10_080).optional(),
    enabled: z.boolean({ message: 'must be true or false' }).optional(),
    auth: feedFields.auth,
  })
  .strict()
  .superRefine((v, ctx) => authProblems(v.auth, ctx));
export type UpdateFeedInput = z.infer<typeof updateFeedInput>;

function authProblems(auth: CreateFeedInput['auth'], ctx: z.RefinementCtx): void {
  if (!auth || auth.type === 'none') return;
  if (!auth.secret) ctx.addIssue({ code: 'custom', path: ['auth', 'secret'], message: auth.type === 'basic' ? 'needs the password' : 'needs the token' });
  if (auth.type === 'basic' && !auth.username) ctx.addIssue({ code: 'custom', path: ['auth', 'username'], message: 'needs the user name' });
}

/** A feed as the API and UI show it: credentials never leave the server (only whether they are set). */
export function feedJson(f: IntelFeedRow) {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: f.id,
    name: f.name,
    kind: f.kind,
    url: f.url,
    collection: f.collection,
    label: f.label,
    intervalMinutes: f.intervalMinutes,
    enabled: f.enabled,
    auth: { type: f.authType, username: f.authType === 'basic' ? f.authUser : null, secretSet: !!f.authSecret },
    lastPullAt: iso(f.lastPullAt),
    lastSuccessAt: iso(f.lastSuccessAt),
    lastError: f.lastError,
    indicators: f.indicatorCount,
    lastAdded: f.lastAdded,
    lastRemoved: f.lastRemoved,
    nextPullAt: iso(f.nextPullAt),
    createdAt: iso(f.createdAt),
  };
}

function authColumns(auth: CreateFeedInput['auth']) {
  if (!auth) return {};
  if (auth.type === 'none') return { authType: 'none' as const, authUser: null, authSecret: null };
  return { authType: auth.type, authUser: auth.type === 'basic' ? (auth.username ?? null) : null, authSecret: auth.secret ?? null };
}

const conflict = (err: unknown) => (isUniqueViolation(err) ? new AppError('conflict', 'a feed with that name exists', { name: 'is taken' }, { cause: err }) : err);

export async function createFeed(db: AnyDb, input: CreateFeedInput, actor: { id: string; ip?: string | null }): Promise<IntelFeedRow> {
  const row = await insertFeed(db, {
    name: input.name,
    kind: input.kind,
    url: input.url,
    collection: input.collection ?? null,
    label: input.label,
    intervalMinutes: input.intervalMinutes,
    enabled: input.enabled,
    ...authColumns(input.auth),
    nextPullAt: new Date(),
    createdBy: actor.id,
  }).catch((err: unknown) => {
    throw conflict(err);
  });
  await audit(db, { actor: actor.id, action: 'intel.feed.create', targetType: 'intel_feed', targetId: String(row.id), ip: actor.ip, details: { name: row.name, kind: row.kind, url: row.url } });
  return row;
}

export async function changeFeed(db: AnyDb, id: number, input: UpdateFeedInput, actor: { id: string; ip?: string | null }): Promise<IntelFeedRow> {
  const before = await getFeed(db, id);
  if (!before) throw notFound('feed');
  const { auth, ...rest } = input;
  // A new place to pull from starts over: its cursor means nothing there.
  const moved = (rest.url !== undefined && rest.url !== before.url) || (rest.collection !== undefined && rest.collection !== before.collection);
  const row = await updateFeed(db, id, { ...rest, ...authColumns(auth), ...(moved ? { cursor: {}, nextPullAt: new Date() } : {}), updatedAt: new Date() }).catch((err: unknown) => {
    throw conflict(err);
  });
  if (!row) throw notFound('feed');
  if (moved) await applyFeedItems(db, id, new Map(), new Set(), new Set(), new Date());
  if (moved || row.label !== before.label) await syncFeedIndicators(db, row);
  await audit(db, { actor: actor.id, action: 'intel.feed.update', targetType: 'intel_feed', targetId: String(id), ip: actor.ip, details: { fields: Object.keys(input) } });
  return row;
}

export async function removeFeed(db: AnyDb, id: number, actor: { id: string; ip?: string | null }): Promise<void> {
  if (!(await deleteFeed(db, id))) throw notFound('feed');
  await audit(db, { actor: actor.id, action: 'intel.feed.delete', targetType: 'intel_feed', targetId: String(id), ip: actor.ip });
}

/** How long a claimed pull may take before another process may take the feed over. */
const LEASE_MS = 10 * 60_000;

export interface PullContext {
  db: AnyDb;
  config: Pick<Config, 'INTEL_FEED_ALLOW_PRIVATE'>;
  /** Who claims (a process id). */
  by: string;
}

/**
 * Pull one feed now (`due`: only if its time has come and nobody holds it). Returns the feed as
 * stored after the pull, with its counts or its error; undefined when another process holds it.
 */
export async function pullFeed(ctx: PullContext, id: number, due = false): Promise<IntelFeedRow | undefined> {
  const now = new Date();
  const feed = await claimFeed(ctx.db, id, ctx.by, now, LEASE_MS, due);
  if (!feed) return undefined;
  const next = new Date(now.getTime() + feed.intervalMinutes * 60_000);
  try {
    const access: FeedAccess = { headers: authHeaders(feed), allowPrivate: ctx.config.INTEL_FEED_ALLOW_PRIVATE };
    const change = feed.kind === 'taxii' ? await pullTaxii(feed.url, feed.collection ?? '', feed.cursor, access) : await pullMisp(feed.url, feed.cursor, access);
    await applyFeedItems(ctx.db, feed.id, change.upserts, change.removed, change.complete, new Date());
    const counts = await syncFeedIndicators(ctx.db, feed);
    return await updateFeed(ctx.db, feed.id, {
      cursor: change.cursor,
      lastPullAt: now,
      lastSuccessAt: new Date(),
      lastError: null,
      indicatorCount: counts.count,
      lastAdded: counts.added,
      lastRemoved: counts.removed,
      nextPullAt: next,
      claimedBy: null,
      claimedUntil: null,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return updateFeed(ctx.db, feed.id, { lastPullAt: now, lastError: message.slice(0, 1000), nextPullAt: next, claimedBy: null, claimedUntil: null });
  }
}

function authHeaders(feed: IntelFeedRow): Record<string, string> {
  if (feed.authType === 'basic' && feed.authSecret) return { Authorization: `Basic ${Buffer.from(`${feed.authUser ?? ''}:${feed.authSecret}`).toString('base64')}` };
  if (feed.authType === 'bearer' && feed.authSecret) return { Authorization: `Bearer ${feed.authSecret}` };
  return {};
}

export interface FeedScheduler {
  /** One round: pull every due feed this process can claim; resolves with how many it pulled. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The back-office scheduler: every INTEL_FEEDS_CHECK_SECONDS, pull the feeds that are due. Each
 * pull claims its feed first, so several processes may run it against one database.
 */
export function startFeedScheduler(deps: { db: AnyDb; config: Pick<Config, 'INTEL_FEED_ALLOW_PRIVATE' | 'INTEL_FEEDS_CHECK_SECONDS'>; log: Logger }): FeedScheduler {
  const ctx: PullContext = { db: deps.db, config: deps.config, by: `feeds-${process.pid}-${randomUUID().slice(0, 8)}` };
  let running: Promise<number> | null = null;
  const tick = (): Promise<number> => {
    running ??= (async () => {
      let pulled = 0;
      for (const id of await dueFeedIds(deps.db, new Date())) {
        const feed = await pullFeed(ctx, id, true);
        if (!feed) continue;
        pulled++;
        if (feed.lastError) deps.log.warn({ feed: feed.id, name: feed.name, error: feed.lastError }, 'threat-intel feed pull failed');
        else deps.log.info({ feed: feed.id, name: feed.name, indicators: feed.indicatorCount, added: feed.lastAdded, removed: feed.lastRemoved }, 'threat-intel feed pulled');
      }
      return pulled;
    })().finally(() => (running = null));
    return running;
  };
  const every = deps.config.INTEL_FEEDS_CHECK_SECONDS * 1000;
  const timer = every > 0 ? setInterval(() => void tick().catch((err: unknown) => deps.log.error({ err }, 'threat-intel feed scheduler failed')), every) : null;
  timer?.unref();
  return {
    tick,
    async stop() {
      if (timer) clearInterval(timer);
      await running?.catch(() => 0);
    },
  };
}
