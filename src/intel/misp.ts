import { indicatorType } from './parse.ts';
import type { FeedAccess, FeedChange } from './taxii.ts';
import { feedJson } from './fetch.ts';

/**
 * A MISP feed (the directory format MISP publishes and reads: manifest.json listing events by
 * uuid with a timestamp, and one <uuid>.json per event). Events new or changed since the last
 * pull are fetched; events gone from the manifest are withdrawn. Attributes of the network kinds
 * (ip-src, ip-dst, domain, hostname, email-src, email-dst, url and their `|` pairs) become
 * indicators, from the event and its objects.
 */

const TYPES = new Set(['ip-src', 'ip-dst', 'domain', 'hostname', 'email', 'email-src', 'email-dst', 'url', 'domain|ip', 'ip-src|port', 'ip-dst|port', 'hostname|port']);
const MAX_EVENTS = 5000;

interface Attribute {
  type?: string;
  value?: string;
  deleted?: boolean;
}
interface EventFile {
  Event?: { uuid?: string; Attribute?: Attribute[]; Object?: { Attribute?: Attribute[] }[] };
}

export async function pullMisp(url: string, cursor: Record<string, string>, access: FeedAccess): Promise<FeedChange> {
  const base = url.endsWith('/') ? url : `${url}/`;
  const headers = { ...access.headers, Accept: 'application/json' };
  const { body: manifest } = await feedJson<Record<string, { timestamp?: string | number }>>(`${base}manifest.json`, headers, access.allowPrivate);
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) throw new Error('manifest.json is not a MISP feed manifest');
  const uuids = Object.keys(manifest).filter((u) => /^[0-9a-f-]{36}$/i.test(u));
  if (uuids.length > MAX_EVENTS) throw new Error(`the manifest lists ${uuids.length} events; at most ${MAX_EVENTS} are taken`);
  const change: FeedChange = { upserts: new Map(), removed: new Set(), complete: new Set(uuids), cursor: {} };
  for (const uuid of uuids) {
    const stamp = String(manifest[uuid]?.timestamp ?? '');
    change.cursor[uuid] = stamp;
    if (cursor[uuid] === stamp && stamp) continue;
    const { body } = await feedJson<EventFile>(`${base}${uuid}.json`, headers, access.allowPrivate);
    const attrs = [...(body.Event?.Attribute ?? []), ...(body.Event?.Object ?? []).flatMap((o) => o.Attribute ?? [])];
    const items = attrs.filter((a) => !a.deleted && a.type && TYPES.has(a.type) && typeof a.value === 'string').flatMap((a) => values(a.type ?? '', a.value ?? ''));
    change.upserts.set(uuid, { items, validUntil: null });
  }
  for (const uuid of Object.keys(cursor)) if (!change.complete?.has(uuid)) change.removed.add(uuid);
  return change;
}

function values(type: string, value: string) {
  const parts = type.includes('|') ? value.split('|') : [value];
  const kept = type.endsWith('|port') ? parts.slice(0, 1) : parts;
  return kept.flatMap((v) => {
    const t = type === 'url' ? indicatorType(hostOf(v)) : indicatorType(v);
    return t ? [t] : [];
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
