import { listHits } from '../db/queries/hits.ts';
import { getToken } from '../db/queries/tokens.ts';
import type { HitRow, TokenRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { hitJson } from '../api/presenters.ts';
import { csvRow } from '../csv.ts';
import { explainHit } from '../hits/meaning.ts';
import { jsonLineSafe } from '../text.ts';

export interface HitExportFilter {
  since?: Date;
  tokenId?: string;
}

const PAGE = 1000;

/** Hits oldest first, in pages, so an export of millions of rows never sits in memory. */
export async function* iterateHits(db: AnyDb, f: HitExportFilter): AsyncGenerator<HitRow> {
  let after = 0;
  for (;;) {
    const page = await listHits(db, { since: f.since, tokenId: f.tokenId, afterId: after, limit: PAGE, order: 'asc' });
    yield* page;
    const last = page[page.length - 1];
    if (!last || page.length < PAGE) return;
    after = last.id;
  }
}

/** Token rows by id, cached for the length of one export. */
export function tokenCache(db: AnyDb): (id: string) => Promise<TokenRow | undefined> {
  const cache = new Map<string, TokenRow | undefined>();
  return async (id) => {
    if (!cache.has(id)) cache.set(id, await getToken(db, id));
    return cache.get(id);
  };
}

export const HIT_CSV_COLUMNS = [
  'id', 'at', 'token_id', 'token_kind', 'token_name', 'planted_location', 'planted_host', 'channel', 'classification',
  'source_ip', 'source_port', 'forwarded_for', 'user_agent', 'actor_user', 'actor_host', 'actor_domain', 'credential',
  'method', 'path', 'query', 'qname', 'qtype', 'mail_from', 'mail_to', 'mail_subject', 'incident_id', 'intel',
  'what', 'evidence', 'repeat_count',
] as const;

export async function* hitsCsv(db: AnyDb, f: HitExportFilter): AsyncGenerator<string> {
  const token = tokenCache(db);
  yield csvRow(HIT_CSV_COLUMNS);
  for await (const h of iterateHits(db, f)) {
    const t = await token(h.tokenId);
    yield csvRow([
      h.id, h.at, h.tokenId, t?.kind, t?.name, t?.location, t?.plantedHost, h.channel, h.classification,
      h.sourceIp, h.sourcePort, h.forwardedFor, h.userAgent, h.actorUser, h.actorHost, h.actorDomain, h.credential,
      h.method, h.path, h.query, h.qname, h.qtype, h.mailFrom, h.mailTo, h.mailSubject, h.incidentId, h.intel?.join(';'),
      ...(t ? [explainHit(h, t).action, explainHit(h, t).evidence] : [null, null]), h.repeatCount,
    ]);
  }
}

/**
 * JSON Lines: one hit per line, the API's hit shape plus the token's name and planted location
 * and what happened in words (`what`, `evidence`, `techniques`); Unicode line breaks escaped (jsonLineSafe).
 */
export async function* hitsJsonl(db: AnyDb, f: HitExportFilter): AsyncGenerator<string> {
  const token = tokenCache(db);
  for await (const h of iterateHits(db, f)) {
    const t = await token(h.tokenId);
    const meaning = t ? explainHit(h, t) : null;
    yield `${jsonLineSafe(
      JSON.stringify({
        ...hitJson(h),
        token: t ? { kind: t.kind, name: t.name, location: t.location, plantedHost: t.plantedHost } : null,
        what: meaning?.action ?? null,
        evidence: meaning?.evidence ?? null,
        techniques: meaning?.techniques ?? [],
      }),
    )}\n`;
  }
}
