import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { parseCsv } from '../csv.ts';
import type { NewIndicator } from '../db/queries/intel.ts';
import type { IntelPurpose, IntelType } from '../db/schema.ts';
import { AppError } from '../errors.ts';

/**
 * Threat-intel imports: a plain list (one IP, CIDR, domain or email per line, `#` comments),
 * a CSV with an `indicator` (or `value`) column and optional `type` and `label` columns, or a
 * STIX 2.1 bundle whose indicators have simple patterns such as
 * `[ipv4-addr:value = '198.51.100.7']` or `[domain-name:value = 'evil.example']`.
 */

const DOMAIN = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** Classify one indicator value, or null when it is none of the supported kinds. */
export function indicatorType(raw: string): { type: IntelType; value: string } | null {
  const v = raw.trim().replace(/^\[|\]$/g, '').replace(/\[\.\]/g, '.').toLowerCase();
  if (isIP(v)) return { type: 'ip', value: ipaddr.parse(v).toString() };
  if (ipaddr.isValidCIDR(v)) return { type: 'cidr', value: v };
  if (/^[^@\s]+@[^@\s]+$/.test(v)) return { type: 'email', value: v };
  const d = v.replace(/\.$/, '');
  if (DOMAIN.test(d)) return { type: 'domain', value: d };
  return null;
}

/** Parse an import; every indicator gets `purpose` (threat intel, or the ranges of a link-checking service). */
export function parseIntel(body: string | object, label: string, source: string | null, contentType: string, purpose: IntelPurpose = 'threat'): NewIndicator[] {
  return parseAny(body, label, source, contentType).map((i) => ({ ...i, purpose }));
}

function parseAny(body: string | object, label: string, source: string | null, contentType: string): NewIndicator[] {
  if (typeof body === 'object' || contentType.includes('json')) return fromStix(typeof body === 'string' ? JSON.parse(body) : body, label, source);
  const text = body;
  if (contentType.includes('csv')) return fromCsv(text, label, source);
  const problems: Record<string, string> = {};
  const out: NewIndicator[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const v = line.replace(/#.*$/, '').trim();
    if (!v) return;
    const t = indicatorType(v);
    if (t) out.push({ ...t, label, source });
    else problems[`line ${i + 1}`] = `"${v.slice(0, 80)}" is not an IP, CIDR, domain or email`;
  });
  return reject(out, problems);
}

function fromCsv(text: string, label: string, source: string | null): NewIndicator[] {
  const rows = parseCsv(text);
  const header = (rows.shift() ?? []).map((h) => h.toLowerCase());
  const col = header.indexOf('indicator') >= 0 ? header.indexOf('indicator') : header.indexOf('value');
  if (col < 0) throw new AppError('invalid_request', 'CSV needs an "indicator" or "value" column', { header: 'missing indicator column' });
  const labelCol = header.indexOf('label');
  const problems: Record<string, string> = {};
  const out: NewIndicator[] = [];
  rows.forEach((cells, i) => {
    const t = indicatorType(cells[col] ?? '');
    if (t) out.push({ ...t, label: (labelCol >= 0 && cells[labelCol]) || label, source });
    else problems[`row ${i + 1}`] = `"${(cells[col] ?? '').slice(0, 80)}" is not an IP, CIDR, domain or email`;
  });
  return reject(out, problems);
}

const STIX_TERM = /(ipv4-addr|ipv6-addr|domain-name|email-addr|url):value\s*=\s*'((?:\\'|[^'])*)'/g;

function fromStix(bundle: unknown, label: string, source: string | null): NewIndicator[] {
  const objects = (bundle as { objects?: unknown[] })?.objects;
  if (!Array.isArray(objects)) throw new AppError('invalid_request', 'expected a STIX 2.1 bundle with an "objects" array');
  const out: NewIndicator[] = [];
  for (const o of objects as Record<string, unknown>[]) {
    if (o.type !== 'indicator' || typeof o.pattern !== 'string') continue;
    const objLabel = typeof o.name === 'string' && label === '' ? o.name : label;
    for (const m of o.pattern.matchAll(STIX_TERM)) {
      const value = (m[2] ?? '').replace(/\\'/g, "'");
      const t = m[1] === 'url' ? indicatorType(safeHost(value)) : indicatorType(value);
      if (t) out.push({ ...t, label: objLabel || 'stix', source });
    }
  }
  if (out.length === 0) throw new AppError('invalid_request', 'the bundle has no indicator with an IP, domain, email or URL pattern');
  return out;
}

/** The IPs, CIDRs, domains and emails a STIX pattern names (URLs by their host). */
export function stixPatternValues(pattern: string): { type: IntelType; value: string }[] {
  const out: { type: IntelType; value: string }[] = [];
  for (const m of pattern.matchAll(STIX_TERM)) {
    const value = (m[2] ?? '').replace(/\\'/g, "'");
    const t = m[1] === 'url' ? indicatorType(safeHost(value)) : indicatorType(value);
    if (t) out.push(t);
  }
  return out;
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function reject(out: NewIndicator[], problems: Record<string, string>): NewIndicator[] {
  if (Object.keys(problems).length) throw new AppError('invalid_request', `${Object.keys(problems).length} entries are not indicators; nothing was imported`, problems);
  if (out.length === 0) throw new AppError('invalid_request', 'no indicators found');
  return out;
}
