import { scannerMatcher } from '../alerts/scanners.ts';
import type { Config } from '../config.ts';
import { sql } from 'drizzle-orm';
import { isPg, type AnyDb } from '../db/store.ts';
import type { Classification, NewHitRow } from '../db/schema.ts';
import { cidrMatcher } from '../net.ts';
import type { Token } from '../tokens/kind.ts';

/**
 * Decide how a hit is treated by the alert pipeline. Every hit is stored whatever this says;
 * anything but `alert` only means "do not alert" (unless ALERT_ON_CLASSIFICATIONS lists it).
 * Kinds can decide first (HitFacts.classification); the recorder only asks when they did not.
 */
export function classify(token: Token, sourceIp: string | null): Classification {
  if (sourceIp && token.ignoreCidrs.length > 0 && cidrMatcher(token.ignoreCidrs)(sourceIp)) return 'ignored';
  return 'alert';
}

/**
 * Classifies a hit row before it is inserted; may note why in `row.details.classifiedBy`.
 * Runs inside the hit's transaction, so its queries see every hit committed before.
 */
export type HitClassifier = ((row: NewHitRow, token: Token) => Classification) & {
  /**
   * PostgreSQL: fetch what the classifier will ask the database about these rows (the DNS echo
   * check's previous lookups) before it runs synchronously. Absent on SQLite, which answers inline.
   */
  warm?: (rows: readonly NewHitRow[]) => Promise<void>;
};

/**
 * The full classifier: per-token and global ignore CIDRs -> `ignored`; known scanners by user
 * agent or network -> `scanner`; the same DNS name for the same token re-resolved within
 * DNS_ECHO_WINDOW -> `echo` (resolvers retry and prefetch; the first lookup already alerted).
 */
export function createClassifier(db: AnyDb, config: Pick<Config, 'IGNORE_CIDRS' | 'SCANNER_UA_EXTRA' | 'DNS_ECHO_WINDOW'>): HitClassifier {
  const globalIgnore = cidrMatcher(config.IGNORE_CIDRS);
  const scanner = scannerMatcher(config.SCANNER_UA_EXTRA);
  const tokenIgnore = new Map<string, { key: string; match: (ip: string) => boolean }>();
  // Last lookup time per (token, name), in memory; after a restart the token's newest 200 hits
  // are asked instead. Never an unbounded scan: a token with many distinct names (data labels,
  // a flood of random ones) would otherwise walk all its hits for every new name.
  const lastSeen = new Map<string, number>();
  // Previous lookups fetched ahead for a PostgreSQL batch (`warm`); SQLite asks inline instead.
  const fetched = new Map<string, number>();
  let recentSameName: (tokenId: string, qname: string) => number | undefined;
  let warm: HitClassifier['warm'];
  if (isPg(db)) {
    recentSameName = (tokenId, qname) => fetched.get(`${tokenId} ${qname}`);
    warm = async (rows) => {
      fetched.clear();
      const pairs = [...new Map(rows.filter((r) => r.channel === 'dns' && r.qname).map((r) => [`${r.tokenId} ${r.qname}`, [r.tokenId, r.qname as string] as const])).entries()]
        .filter(([key]) => !lastSeen.has(key))
        .map(([, p]) => p);
      if (pairs.length === 0) return;
      const res = await db.execute<{ t: string; q: string; at: number | null }>(sql`
        select p.t, p.q, (select (extract(epoch from r.at) * 1000)::float8 from (select at, qname from hits where token_id = p.t order by id desc limit 200) r
                          where r.qname = p.q order by r.at desc limit 1) as at
        from unnest(${sql.param(pairs.map((p) => p[0]))}::text[], ${sql.param(pairs.map((p) => p[1]))}::text[]) as p(t, q)`);
      for (const r of res.rows) if (r.at !== null) fetched.set(`${r.t} ${r.q}`, Number(r.at));
    };
  } else {
    const stmt = db.$client.prepare<[string, string], { at: number }>(
      'select at from (select at, qname from hits where token_id = ? order by id desc limit 200) where qname = ? order by at desc limit 1',
    );
    recentSameName = (tokenId, qname) => stmt.get(tokenId, qname)?.at;
  }
  const previousLookup = (tokenId: string, qname: string, at: number): number | undefined => {
    const key = `${tokenId} ${qname}`;
    const known = lastSeen.get(key) ?? recentSameName(tokenId, qname);
    if (lastSeen.size >= 100_000) lastSeen.clear();
    lastSeen.set(key, at);
    return known;
  };

  const ignoredByToken = (token: Token, ip: string): boolean => {
    if (token.ignoreCidrs.length === 0) return false;
    const key = token.ignoreCidrs.join(',');
    let m = tokenIgnore.get(token.id);
    if (!m || m.key !== key) {
      m = { key, match: cidrMatcher(token.ignoreCidrs) };
      if (tokenIgnore.size > 10_000) tokenIgnore.clear();
      tokenIgnore.set(token.id, m);
    }
    return m.match(ip);
  };

  const classifier: HitClassifier = (row, token) => {
    const ip = row.sourceIp ?? null;
    if (ip && ignoredByToken(token, ip)) return note(row, 'ignored', 'token ignoreCidrs');
    if (ip && globalIgnore(ip)) return note(row, 'ignored', 'IGNORE_CIDRS');
    if (row.channel !== 'dns') {
      const name = scanner(row.userAgent ?? null, ip);
      if (name) return note(row, 'scanner', name);
    }
    if (row.channel === 'dns' && row.qname) {
      const at = row.at instanceof Date ? row.at.getTime() : Date.now();
      const prev = previousLookup(row.tokenId, row.qname, at);
      if (prev !== undefined && at - prev <= config.DNS_ECHO_WINDOW) return note(row, 'echo', `same name resolved ${Math.round((at - prev) / 1000)}s earlier`);
    }
    return 'alert';
  };
  if (warm) classifier.warm = warm;
  return classifier;
}

function note(row: NewHitRow, c: Classification, why: string): Classification {
  row.details = { ...(row.details ?? {}), classifiedBy: why };
  return c;
}
