import { and, asc, eq, inArray, isNull, lt, lte, or, type SQL } from 'drizzle-orm';
import type { IntelType, IntelFeedRow, NewIntelFeedRow } from '../schema.ts';
import { insertedRow, shared, type AnyDb } from '../store.ts';
import { changed } from '../changes.ts';

/** Plain queries for subscribed threat-intel feeds (intel/feeds.ts has the rules). */

/** The `source` of a feed's rows in intel_indicators. */
export const feedSource = (id: number) => `feed:${id}`;

export async function insertFeed(db: AnyDb, row: NewIntelFeedRow): Promise<IntelFeedRow> {
  const { db: q, t } = shared(db);
  return insertedRow(await q.insert(t.intelFeeds).values(row).returning());
}

export async function listFeeds(db: AnyDb): Promise<IntelFeedRow[]> {
  const { db: q, t } = shared(db);
  return q.select().from(t.intelFeeds).orderBy(asc(t.intelFeeds.id));
}

export async function getFeed(db: AnyDb, id: number): Promise<IntelFeedRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.intelFeeds).where(eq(t.intelFeeds.id, id)).limit(1);
  return row;
}

export async function updateFeed(db: AnyDb, id: number, patch: Partial<NewIntelFeedRow>): Promise<IntelFeedRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.update(t.intelFeeds).set(patch).where(eq(t.intelFeeds.id, id)).returning();
  return row;
}

/** Delete a feed and the indicators it brought (its items go with it by cascade). */
export async function deleteFeed(db: AnyDb, id: number): Promise<boolean> {
  const { db: q, t } = shared(db);
  await q.delete(t.intelIndicators).where(eq(t.intelIndicators.source, feedSource(id)));
  const gone = await q.delete(t.intelFeeds).where(eq(t.intelFeeds.id, id)).returning({ id: t.intelFeeds.id });
  changed('intel');
  return gone.length > 0;
}

/**
 * Claim a feed for a pull with one row update (compare-and-swap): only a feed nobody holds (or
 * whose lease ran out) is taken, so two processes never pull one feed at once. `due`: only when
 * its next pull time has come (the scheduler); otherwise now (a manual pull).
 */
export async function claimFeed(db: AnyDb, id: number, by: string, now: Date, leaseMs: number, due: boolean): Promise<IntelFeedRow | undefined> {
  const { db: q, t } = shared(db);
  const conds: (SQL | undefined)[] = [eq(t.intelFeeds.id, id), or(isNull(t.intelFeeds.claimedUntil), lt(t.intelFeeds.claimedUntil, now))];
  if (due) conds.push(eq(t.intelFeeds.enabled, true), lte(t.intelFeeds.nextPullAt, now));
  const [row] = await q
    .update(t.intelFeeds)
    .set({ claimedBy: by, claimedUntil: new Date(now.getTime() + leaseMs) })
    .where(and(...conds))
    .returning();
  return row;
}

/** Ids of enabled feeds whose next pull is due and that nobody holds. */
export async function dueFeedIds(db: AnyDb, now: Date, limit = 20): Promise<number[]> {
  const { db: q, t } = shared(db);
  const rows = await q
    .select({ id: t.intelFeeds.id })
    .from(t.intelFeeds)
    .where(and(eq(t.intelFeeds.enabled, true), lte(t.intelFeeds.nextPullAt, now), or(isNull(t.intelFeeds.claimedUntil), lt(t.intelFeeds.claimedUntil, now))))
    .orderBy(asc(t.intelFeeds.nextPullAt))
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Replace the items of some objects of a feed, drop withdrawn and expired ones. */
export async function applyFeedItems(
  db: AnyDb,
  feedId: number,
  upserts: ReadonlyMap<string, { items: readonly { type: IntelType; value: string }[]; validUntil: Date | null }>,
  removed: ReadonlySet<string>,
  keepOnly: ReadonlySet<string> | null,
  now: Date,
): Promise<void> {
  const { db: q, t } = shared(db);
  const refs = [...new Set([...upserts.keys(), ...removed])];
  for (let i = 0; i < refs.length; i += 500) {
    await q.delete(t.intelFeedItems).where(and(eq(t.intelFeedItems.feedId, feedId), inArray(t.intelFeedItems.ref, refs.slice(i, i + 500))));
  }
  if (keepOnly) {
    const present = await q.selectDistinct({ ref: t.intelFeedItems.ref }).from(t.intelFeedItems).where(eq(t.intelFeedItems.feedId, feedId));
    const gone = present.map((r) => r.ref).filter((r) => !keepOnly.has(r));
    for (let i = 0; i < gone.length; i += 500) await q.delete(t.intelFeedItems).where(and(eq(t.intelFeedItems.feedId, feedId), inArray(t.intelFeedItems.ref, gone.slice(i, i + 500))));
  }
  await q.delete(t.intelFeedItems).where(and(eq(t.intelFeedItems.feedId, feedId), lte(t.intelFeedItems.validUntil, now)));
  const rows = [...upserts].flatMap(([ref, u]) => u.items.map((it) => ({ feedId, ref, type: it.type, value: it.value, validUntil: u.validUntil })));
  for (let i = 0; i < rows.length; i += 500) await q.insert(t.intelFeedItems).values(rows.slice(i, i + 500));
}

/**
 * Make the feed's indicators (intel_indicators with source feed:<id>) equal the distinct values
 * its items hold now: removed from the feed is removed here. Returns what changed.
 */
export async function syncFeedIndicators(db: AnyDb, feed: Pick<IntelFeedRow, 'id' | 'label'>): Promise<{ added: number; removed: number; count: number }> {
  const { db: q, t } = shared(db);
  const source = feedSource(feed.id);
  const want = new Map(
    (await q.selectDistinct({ type: t.intelFeedItems.type, value: t.intelFeedItems.value }).from(t.intelFeedItems).where(eq(t.intelFeedItems.feedId, feed.id))).map((r) => [`${r.type}\0${r.value}`, r]),
  );
  const have = await q.select({ id: t.intelIndicators.id, type: t.intelIndicators.type, value: t.intelIndicators.value, label: t.intelIndicators.label }).from(t.intelIndicators).where(eq(t.intelIndicators.source, source));
  const stale = have.filter((h) => h.label !== feed.label || !want.has(`${h.type}\0${h.value}`)).map((h) => h.id);
  for (let i = 0; i < stale.length; i += 500) await q.delete(t.intelIndicators).where(inArray(t.intelIndicators.id, stale.slice(i, i + 500)));
  const kept = new Set(have.filter((h) => !stale.includes(h.id)).map((h) => `${h.type}\0${h.value}`));
  const add = [...want].filter(([k]) => !kept.has(k)).map(([, r]) => ({ type: r.type, value: r.value, label: feed.label, source, purpose: 'threat' as const }));
  let added = 0;
  for (let i = 0; i < add.length; i += 500) added += (await q.insert(t.intelIndicators).values(add.slice(i, i + 500)).onConflictDoNothing().returning({ id: t.intelIndicators.id })).length;
  if (added || stale.length) changed('intel');
  return { added, removed: stale.length, count: kept.size + added };
}
