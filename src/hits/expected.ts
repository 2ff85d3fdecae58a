import { z } from 'zod';
import { allAssets, assetStatements, matchIp } from '../db/queries/assets.ts';
import { allExpectedRules, expectedStatements, expectedVersion } from '../db/queries/expected.ts';
import { unstoredHit } from '../db/queries/hits.ts';
import { EXPECTED_EVIDENCE, type AssetRow, type ExpectedRuleRow, type NewHitRow } from '../db/schema.ts';
import { isPg, type AnyDb } from '../db/store.ts';
import { versionedCache, type VersionedCache } from '../db/versioned-cache.ts';
import { cidrMatcher, isCidr } from '../net.ts';
import type { Token } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';
import { explainHit } from './meaning.ts';
import { parseWorkingHours, type WorkingHours } from './working-hours.ts';

/**
 * Expected activity (issue 20): rules that say who may touch which decoys, when, without
 * paging: the nightly backup walking `\\FS01\*`, the antivirus scan, a purple-team drill.
 *
 * A rule is WHO (source addresses, host names, user names), WHEN (a schedule in the
 * working-hours syntax) and WHAT (which decoys, and which evidence: touches, and planted
 * credentials found if the rule says so; never a credential used). A hit that matches all
 * three is stored as `expected` with the rule. A hit whose who and when match but whose what
 * does not (a credential used inside the backup window, a decoy outside the rule's scope) is
 * unusual for the rule: it alerts as usual and says which rule it would have been.
 *
 * No attacker-controlled field alone makes a touch expected: a rule must name a source
 * network or a host, host names count as the asset map names the observed source address
 * (a name the touching machine reports counts only when the rule's source addresses matched
 * too), and user names only narrow a rule that already matched on the network.
 */

/** Decoy selectors: `*`, `kind:NAME`, `token:ID`, `planted:HOST-GLOB`, or a location glob such as `\\FS01\*`. */
const decoySelector = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(1024)
  .superRefine((v, ctx) => {
    if (v.startsWith('kind:') && !findKind(v.slice(5))) ctx.addIssue({ code: 'custom', message: `"${v.slice(5)}" is not a kind (see GET /api/v1/kinds)` });
  });

const glob = (what: string) =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(255)
    .regex(/^[A-Za-z0-9*?._$\\@-]+$/, `must be a ${what} (letters, digits, . _ - $ \\ @, and * or ? as wildcards)`);

const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max, `can have at most ${max} entries`).default([]);

/** A rule as the API, the UI and the file write it. */
export const expectedRuleInput = z
  .object({
    name: z.string().trim().min(1, 'is required').max(120),
    enabled: z.boolean().default(true),
    sources: list(z.string().trim().refine(isCidr, 'must be an IP address or CIDR such as 10.1.5.20 or 10.1.5.0/24'), 200),
    hosts: list(glob('host name'), 200),
    users: list(glob('user name'), 200),
    decoys: z.array(decoySelector).min(1, 'say which decoys: a location such as \\\\FS01\\*, kind:NAME, token:ID, planted:HOST, or * for all').max(200),
    schedule: z
      .string()
      .trim()
      .max(500)
      .superRefine((v, ctx) => {
        try {
          parseWorkingHours(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : 'is not a schedule' });
        }
      })
      .nullable()
      .optional(),
    evidence: z
      .array(z.string())
      .min(1, 'choose at least one')
      .superRefine((v, ctx) => {
        if (v.includes('credential-used')) ctx.addIssue({ code: 'custom', message: 'a planted credential used always alerts: no rule can cover it' });
        for (const e of v) if (e !== 'credential-used' && !(EXPECTED_EVIDENCE as readonly string[]).includes(e)) ctx.addIssue({ code: 'custom', message: `must be some of ${EXPECTED_EVIDENCE.join(', ')}` });
      })
      .transform((v) => [...new Set(v)] as ExpectedRuleRow['evidence'])
      .default(['touch']),
    tag: z.string().trim().max(64).nullable().optional(),
    note: z.string().trim().max(2000).nullable().optional(),
  })
  .strict()
  .refine((r) => r.sources.length > 0 || r.hosts.length > 0, {
    message: 'say who: a source address or CIDR, or a host name (user names are reported by the machine that touched the decoy, so they never make a touch expected alone)',
    path: ['sources'],
  });
export type ExpectedRuleInput = z.infer<typeof expectedRuleInput>;

/** The same, every field optional (PATCH). */
export const expectedRulePatch = z
  .object({
    name: z.string().trim().min(1).max(120).optional(),
    enabled: z.boolean().optional(),
    sources: z.array(z.string().trim().refine(isCidr, 'must be an IP address or CIDR')).max(200).optional(),
    hosts: z.array(glob('host name')).max(200).optional(),
    users: z.array(glob('user name')).max(200).optional(),
    decoys: z.array(decoySelector).min(1).max(200).optional(),
    schedule: z.string().trim().max(500).nullable().optional(),
    evidence: z.array(z.string()).min(1).optional(),
    tag: z.string().trim().max(64).nullable().optional(),
    note: z.string().trim().max(2000).nullable().optional(),
  })
  .strict();

/** A rule ready to match: its patterns compiled once. */
interface Compiled {
  rule: ExpectedRuleRow;
  source: ((ip: string) => boolean) | null;
  hosts: RegExp[];
  users: RegExp[];
  decoys: ((t: Token) => boolean)[];
  schedule: WorkingHours | null;
}

export type ExpectedVerdict =
  | { expected: true; rule: ExpectedRuleRow }
  | { expected: false; rule: ExpectedRuleRow; why: string };

function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** Locations compare with either slash: `//fs01/finance` and `\\FS01\Finance` are one place. */
const slashes = (s: string) => s.replace(/\//g, '\\');

function decoyMatcher(sel: string): (t: Token) => boolean {
  if (sel === '*') return () => true;
  if (sel.startsWith('kind:')) return (t) => t.kind === sel.slice(5);
  if (sel.startsWith('token:')) return (t) => t.id === sel.slice(6);
  if (sel.startsWith('planted:')) {
    const re = globRegex(sel.slice(8));
    return (t) => t.plantedHost !== null && (re.test(t.plantedHost) || re.test(t.plantedHost.split('.')[0] ?? ''));
  }
  const re = globRegex(slashes(sel));
  return (t) => t.location !== null && re.test(slashes(t.location));
}

function compile(rule: ExpectedRuleRow): Compiled | null {
  try {
    return {
      rule,
      source: rule.sources.length ? cidrMatcher(rule.sources) : null,
      hosts: rule.hosts.map(globRegex),
      users: rule.users.map(globRegex),
      decoys: rule.decoys.map(decoyMatcher),
      schedule: rule.schedule ? parseWorkingHours(rule.schedule) : null,
    };
  } catch {
    return null; // validated on the way in; a rule that no longer parses matches nothing
  }
}

const account = (user: string) => (user.includes('\\') ? user.slice(user.lastIndexOf('\\') + 1) : user.includes('@') ? user.slice(0, user.indexOf('@')) : user);

/** Words for what a rule covers, for the note on a hit it did not cover. */
function covers(rule: ExpectedRuleRow): string {
  return `${rule.evidence.map((e) => (e === 'touch' ? 'touches' : 'planted credentials found')).join(' and ')} of ${rule.decoys.join(', ')}`;
}

/** Does this rule's who and when match the hit, and then its what? */
function judge(c: Compiled, row: NewHitRow, token: Token, asset: (ip: string | null) => AssetRow | null): ExpectedVerdict | null {
  const { rule } = c;
  const ip = row.sourceIp ?? null;
  const sourceOk = c.source ? ip !== null && c.source(ip) : null;
  if (sourceOk === false) return null;
  if (c.hosts.length) {
    // The observed name: the asset map's for the address that connected (for a relayed hit that is the relay, not the actor).
    const observed = row.channel === 'http' ? (asset(ip)?.hostname ?? null) : null;
    const reported = row.actorHost ?? null;
    const named = (h: string | null) => h !== null && c.hosts.some((re) => re.test(h) || re.test(h.split('.')[0] ?? ''));
    if (!named(observed) && !(sourceOk === true && named(reported))) return null;
  }
  if (c.users.length) {
    const user = row.actorUser ? account(row.actorUser) : null;
    if (!user || !c.users.some((re) => re.test(user))) return null;
  }
  if (c.schedule && !c.schedule.contains(row.at)) return null;
  // Who and when match: the rule speaks for this hit. Now what it may cover.
  if (!c.decoys.some((m) => m(token))) return { expected: false, rule, why: `decoy "${token.name}"${token.location ? ` at ${token.location}` : ''} is outside the rule's scope (${rule.decoys.join(', ')})` };
  if (row.credential) return { expected: false, rule, why: 'a planted credential was used, which no rule covers' };
  const evidence = explainHit(unstoredHit(row), token).evidence;
  if (evidence === 'credential-used') return { expected: false, rule, why: 'a planted credential was used, which no rule covers' };
  if (!(rule.evidence as string[]).includes(evidence)) return { expected: false, rule, why: `${evidence === 'credential-found' ? 'a planted credential was found' : 'the decoy was touched'}, while the rule covers only ${covers(rule)}` };
  return { expected: true, rule };
}

/**
 * The rules in memory, rebuilt when the table changes (checked at most every `recheckMs`), with
 * the asset map the host conditions read. SQLite answers synchronously; on PostgreSQL the
 * recorder awaits `refresh()` before each batch (the classifier's `warm`).
 */
export function expectedMatcher(db: AnyDb, recheckMs = 1000) {
  let assetRows: AssetRow[] = [];
  let assetsAt = 0;
  const compileAll = (rows: ExpectedRuleRow[]) => rows.filter((r) => r.enabled).flatMap((r) => compile(r) ?? []);
  let cache: VersionedCache<Compiled[]>;
  if (isPg(db)) {
    cache = versionedCache<Compiled[]>(
      [],
      {
        sync: false,
        topic: 'expected',
        version: () => expectedVersion(db),
        load: async () => compileAll(await allExpectedRules(db)),
        each: async (rules) => {
          if (rules.length && Date.now() - assetsAt > 2000) {
            assetRows = await allAssets(db);
            assetsAt = Date.now();
          }
        },
      },
      recheckMs,
    );
  } else {
    const q = expectedStatements(db);
    const a = assetStatements(db);
    cache = versionedCache<Compiled[]>(
      [],
      {
        sync: true,
        topic: 'expected',
        version: q.version,
        load: () => compileAll(q.all()),
        each: (rules) => {
          if (rules.length) assetRows = a.all();
        },
      },
      recheckMs,
    );
  }
  const asset = (ip: string | null): AssetRow | null => (ip ? (matchIp(assetRows, ip) ?? null) : null);
  return {
    /**
     * The rule that covers this hit (`expected: true`), else the first rule whose who and when
     * match but whose what does not (`expected: false`, with why), else null.
     */
    match(row: NewHitRow, token: Token): ExpectedVerdict | null {
      const list = cache.get();
      if (list.length === 0) return null;
      let unusual: ExpectedVerdict | null = null;
      for (const c of list) {
        const v = judge(c, row, token, asset);
        if (v?.expected) return v;
        unusual ??= v;
      }
      return unusual;
    },
    /** Forget the cached rules (after a change in this process). */
    invalidate: () => cache.invalidate(),
    refresh: () => cache.refresh(),
  };
}
export type ExpectedMatcher = ReturnType<typeof expectedMatcher>;
