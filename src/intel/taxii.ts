import type { IntelType } from '../db/schema.ts';
import { feedJson } from './fetch.ts';
import { stixPatternValues } from './parse.ts';

/**
 * A TAXII 2.1 client for one collection: discovery (when the URL is a discovery endpoint), the
 * API root's collections (found by id or title), then the collection's objects from the last
 * `added_after` cursor, page by page: `next` when the server gives one, else `added_after` set
 * to the page's X-TAXII-Date-Added-Last, while `more` is true (bounded).
 */

export const TAXII_MEDIA_TYPE = 'application/taxii+json;version=2.1';
const MAX_PAGES = 500;

export interface FeedChange {
  /** Objects (by STIX id or MISP event uuid) whose indicators are now these. */
  upserts: Map<string, { items: { type: IntelType; value: string }[]; validUntil: Date | null }>;
  /** Objects the feed withdrew (revoked, or gone from a MISP manifest). */
  removed: Set<string>;
  /** MISP: every object the feed lists now (anything else of the feed is removed); TAXII: null (incremental). */
  complete: Set<string> | null;
  cursor: Record<string, string>;
}

export interface FeedAccess {
  headers: Record<string, string>;
  allowPrivate: readonly string[];
}

interface Discovery {
  default?: string;
  api_roots?: string[];
}
interface Collections {
  collections?: { id: string; title?: string; can_read?: boolean }[];
}
interface Envelope {
  more?: boolean;
  next?: string;
  objects?: Record<string, unknown>[];
}

const withSlash = (u: string) => (u.endsWith('/') ? u : `${u}/`);

/** The API root a feed URL names: the discovery document's default (or first) root, or the URL itself. */
async function apiRoot(url: string, access: FeedAccess, headers: Record<string, string>): Promise<string> {
  if (!/\/taxii2\/?$/.test(new URL(url).pathname)) return withSlash(url);
  const { body } = await feedJson<Discovery>(withSlash(url), headers, access.allowPrivate);
  const root = body.default ?? body.api_roots?.[0];
  if (!root) throw new Error('the discovery document names no API root');
  return withSlash(new URL(root, url).toString());
}

export async function pullTaxii(url: string, collection: string, cursor: Record<string, string>, access: FeedAccess): Promise<FeedChange> {
  const headers = { ...access.headers, Accept: TAXII_MEDIA_TYPE };
  const root = await apiRoot(url, access, headers);
  const { body: cols } = await feedJson<Collections>(`${root}collections/`, headers, access.allowPrivate);
  const col = cols.collections?.find((c) => c.id === collection) ?? cols.collections?.find((c) => c.title === collection);
  if (!col) throw new Error(`the API root has no collection "${collection}" (it has: ${(cols.collections ?? []).map((c) => c.title ?? c.id).join(', ') || 'none'})`);
  if (col.can_read === false) throw new Error(`collection "${collection}" cannot be read with these credentials`);

  const change: FeedChange = { upserts: new Map(), removed: new Set(), complete: null, cursor: { ...cursor } };
  let addedAfter = cursor.addedAfter;
  let next: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const q = new URLSearchParams();
    if (addedAfter) q.set('added_after', addedAfter);
    if (next) q.set('next', next);
    const target = `${root}collections/${encodeURIComponent(col.id)}/objects/${q.size ? `?${q}` : ''}`;
    const { body, headers: h } = await feedJson<Envelope>(target, headers, access.allowPrivate);
    for (const o of body.objects ?? []) take(change, o);
    const header = h['x-taxii-date-added-last'];
    const last = typeof header === 'string' && header ? header : undefined;
    if (last) change.cursor.addedAfter = last;
    if (!body.more) return change;
    if (body.next) next = body.next;
    else {
      next = undefined;
      if (!last || last === addedAfter) throw new Error('the server says there is more but gives neither next nor a new X-TAXII-Date-Added-Last');
      addedAfter = last;
    }
  }
  throw new Error(`more than ${MAX_PAGES} pages in one pull; the rest follows on the next pull`);
}

/** One STIX object: an indicator's values (or its withdrawal when revoked or past valid_until). */
function take(change: FeedChange, o: Record<string, unknown>): void {
  if (o.type !== 'indicator' || typeof o.id !== 'string') return;
  const validUntil = typeof o.valid_until === 'string' ? new Date(o.valid_until) : null;
  if (o.revoked === true || (validUntil && validUntil.getTime() <= Date.now())) {
    change.upserts.delete(o.id);
    change.removed.add(o.id);
    return;
  }
  const items = typeof o.pattern === 'string' ? stixPatternValues(o.pattern) : [];
  change.removed.delete(o.id);
  change.upserts.set(o.id, { items, validUntil: validUntil && !Number.isNaN(validUntil.getTime()) ? validUntil : null });
}
