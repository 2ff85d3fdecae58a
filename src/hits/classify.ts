import { scannerMatcher } from './scanners.ts';
import type { Config } from '../config.ts';
import { sql } from 'drizzle-orm';
import { isPg, type AnyDb } from '../db/store.ts';
import type { Classification, NewHitRow } from '../db/schema.ts';
import { cidrMatcher } from '../net.ts';
import type { Token } from '../tokens/kind.ts';
import { expectedMatcher, type ExpectedMatcher } from './expected.ts';

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
 * The full classifier (DESIGN section 6), in order:
 * 1. per-token and global ignore CIDRs -> `ignored`: the operator's word wins over everything;
 * 2. a planted secret used -> `alert`, whatever else the request says;
 * 3. a kind's own verdict (`probe` for a wrong secret, `noise` for a lookup without data) stands;
 * 4. a source in a known scanner network (link unfurlers, mail-security pre-fetchers, crawlers:
 *    published ranges) -> `scanner`. A user agent or mailer that merely names a scanner is
 *    attacker text: it is noted on the hit (`details.scannerHint`) and never silences it;
 * 5. an expected-activity rule whose who, when and what all match -> `expected`, with the
 *    rule (src/hits/expected.ts); when only its who and when match (a credential used in the
 *    backup window, a decoy outside its scope) the hit alerts and notes the rule it escaped;
 * 6. the same DNS name for the same token re-resolved through the same resolver within
 *    DNS_ECHO_WINDOW -> `echo` (resolvers retry and prefetch; the first lookup already alerted).
 *    Another resolver asking is another path to the name, and alerts.
 */
export function createClassifier(
  db: AnyDb,
  config: Pick<Config, 'IGNORE_CIDRS' | 'SCANNER_UA_EXTRA' | 'DNS_ECHO_WINDOW'>,
  /** Ranges the operator imported for link-checking services (`intel import --purpose scanner`). */
  importedScanners?: (ip: string) => string | null,
  expected: ExpectedMatcher = expectedMatcher(db),
): HitClassifier {
  const globalIgnore = cidrMatcher(config.IGNORE_CIDRS);
  const scanner = scannerMatcher(config.SCANNER_UA_EXTRA);
  const tokenIgnore = new Map<string, { key: string; match: (ip: string) => boolean }>();
  // Last lookup time per (token, name, resolver), in memory; after a restart the token's newest
  // 200 hits are asked instead. Never an unbounded scan: a token with many distinct names (data
  // labels, a flood of random ones) would otherwise walk all its hits for every new name.
  const lastSeen = new Map<string, number>();
  // Previous lookups fetched ahead for a PostgreSQL batch (`warm`); SQLite asks inline instead.
  const fetched = new Map<string, number>();
  const echoKey = (tokenId: string, qname: string, resolver: string) => `${tokenId} ${qname} ${resolver}`;
  let recentSameName: (tokenId: string, qname: string, resolver: string) => number | undefined;
  let warm: HitClassifier['warm'];
  if (isPg(db)) {
    recentSameName = (tokenId, qname, resolver) => fetched.get(echoKey(tokenId, qname, resolver));
    warm = async (rows) => {
      fetched.clear();
      const triples = [
        ...new Map(
          rows
            .filter((r) => r.channel === 'dns' && r.qname)
            .map((r) => [echoKey(r.tokenId, r.qname as string, r.sourceIp ?? ''), [r.tokenId, r.qname as string, r.sourceIp ?? ''] as const]),
        ).entries(),
      ]
        .filter(([key]) => !lastSeen.has(key))
        .map(([, p]) => p);
      if (triples.length === 0) return;
      const res = await db.execute<{ t: string; q: string; s: string; at: number | null }>(sql`
        select p.t, p.q, p.s, (select (extract(epoch from r.at) * 1000)::float8 from (select at, qname, source_ip from hits where token_id = p.t order by id desc limit 200) r
                               where r.qname = p.q and coalesce(r.source_ip, '') = p.s order by r.at desc limit 1) as at
        from unnest(${sql.param(triples.map((p) => p[0]))}::text[], ${sql.param(triples.map((p) => p[1]))}::text[], ${sql.param(triples.map((p) => p[2]))}::text[]) as p(t, q, s)`);
      for (const r of res.rows) if (r.at !== null) fetched.set(echoKey(r.t, r.q, r.s), Number(r.at));
    };
  } else {
    const stmt = db.$client.prepare<[string, string, string], { at: number }>(
      "select at from (select at, qname, source_ip from hits where token_id = ? order by id desc limit 200) where qname = ? and coalesce(source_ip, '') = ? order by at desc limit 1",
    );
    recentSameName = (tokenId, qname, resolver) => stmt.get(tokenId, qname, resolver)?.at;
  }
  const previousLookup = (tokenId: string, qname: string, resolver: string, at: number): number | undefined => {
    const key = echoKey(tokenId, qname, resolver);
    const known = lastSeen.get(key) ?? recentSameName(tokenId, qname, resolver);
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
    if (row.credential) {
      const v = expected.match(row, token);
      if (v && !v.expected) unusual(row, v.rule, v.why);
      return 'alert';
    }
    const kindSays = row.classification ?? 'alert';
    if (kindSays !== 'alert' && kindSays !== 'ignored') return kindSays;
    // Mail arrives from mail servers and lookups from resolvers: their address says nothing about a scanner.
    if (row.channel === 'http' && ip) {
      const network = scanner.network(ip) ?? importedScanners?.(ip) ?? null;
      if (network) return note(row, 'scanner', network);
    }
    const v = expected.match(row, token);
    if (v?.expected) {
      row.expectedRuleId = v.rule.id;
      return note(row, 'expected', `expected activity: rule "${v.rule.name}" (#${v.rule.id})${v.rule.tag ? ` [${v.rule.tag}]` : ''}`);
    }
    if (v) unusual(row, v.rule, v.why);
    const mailer = row.channel === 'smtp' ? (headerValue(row, 'x-mailer') ?? headerValue(row, 'user-agent')) : null;
    const hint = scanner.agent(row.userAgent ?? mailer ?? null);
    if (hint) row.details = { ...(row.details ?? {}), scannerHint: hint };
    if (row.channel === 'dns' && row.qname) {
      const at = row.at instanceof Date ? row.at.getTime() : Date.now();
      const prev = previousLookup(row.tokenId, row.qname, ip ?? '', at);
      if (prev !== undefined && at - prev <= config.DNS_ECHO_WINDOW) return note(row, 'echo', `same name resolved through the same resolver ${Math.round((at - prev) / 1000)}s earlier`);
    }
    return 'alert';
  };
  if (isPg(db)) {
    classifier.warm = async (rows) => {
      await expected.refresh();
      await warm?.(rows);
    };
  }
  return classifier;
}

function headerValue(row: NewHitRow, name: string): string | null {
  const h = row.details?.headers;
  if (!h || typeof h !== 'object') return null;
  const v = (h as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : null;
}

/** Who and when matched an expected-activity rule but what did not: the hit alerts, and says which rule it escaped. */
function unusual(row: NewHitRow, rule: { id: number; name: string }, why: string): void {
  row.details = { ...(row.details ?? {}), unusualForRule: { id: rule.id, name: rule.name, why } };
}

function note(row: NewHitRow, c: Classification, why: string): Classification {
  row.details = { ...(row.details ?? {}), classifiedBy: why };
  return c;
}
