import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import ipaddr from 'ipaddr.js';
import maxmind, { type CountryResponse, type Reader } from 'maxmind';
import { normalizeIp } from '../net.ts';

/**
 * Who owns a public address, from databases shipped as npm packages (no network lookup at
 * alert time; `npm update` refreshes them): the autonomous system from @ip-location-db/asn
 * (RouteViews and DB-IP, CC BY 4.0) and the country from @ip-location-db/geo-whois-asn-country-mmdb
 * (CC0) read with MaxMind's reader. Loaded once, on first use (about 15 MB in memory), so a
 * process that never sees a public source never pays for it.
 */
export interface IpOwner {
  asn: number | null;
  org: string | null;
  /** ISO 3166 alpha-2. */
  country: string | null;
}

interface AsnTable {
  v4: { start: Uint32Array; end: Uint32Array; asn: Uint32Array; org: Uint32Array };
  v6: { startHi: BigUint64Array; startLo: BigUint64Array; endHi: BigUint64Array; endLo: BigUint64Array; asn: Uint32Array; org: Uint32Array };
  orgs: string[];
}

const require = createRequire(import.meta.url);
let loading: Promise<{ asn: AsnTable; country: Reader<CountryResponse> }> | null = null;

/** One CSV line `start,end,asn,org` (org may be quoted and contain commas). */
function parseLine(line: string): [string, string, number, string] | null {
  const a = line.indexOf(',');
  const b = line.indexOf(',', a + 1);
  const c = line.indexOf(',', b + 1);
  if (a < 0 || b < 0 || c < 0) return null;
  let org = line.slice(c + 1);
  if (org.startsWith('"') && org.endsWith('"')) org = org.slice(1, -1).replaceAll('""', '"');
  return [line.slice(0, a), line.slice(a + 1, b), Number(line.slice(b + 1, c)), org];
}

async function loadAsn(): Promise<AsnTable> {
  const dir = require.resolve('@ip-location-db/asn/package.json').replace(/package\.json$/, '');
  const orgs: string[] = [];
  const orgIndex = new Map<string, number>();
  const idx = (org: string) => {
    let i = orgIndex.get(org);
    if (i === undefined) orgIndex.set(org, (i = orgs.push(org) - 1));
    return i;
  };
  const v4Lines = (await readFile(`${dir}asn-ipv4-num.csv`, 'utf8')).split('\n');
  const v4 = { start: new Uint32Array(v4Lines.length), end: new Uint32Array(v4Lines.length), asn: new Uint32Array(v4Lines.length), org: new Uint32Array(v4Lines.length) };
  let n4 = 0;
  for (const line of v4Lines) {
    const p = parseLine(line);
    if (!p) continue;
    v4.start[n4] = Number(p[0]);
    v4.end[n4] = Number(p[1]);
    v4.asn[n4] = p[2];
    v4.org[n4] = idx(p[3]);
    n4++;
  }
  const v6Lines = (await readFile(`${dir}asn-ipv6-num.csv`, 'utf8')).split('\n');
  const mask = (1n << 64n) - 1n;
  const v6 = {
    startHi: new BigUint64Array(v6Lines.length),
    startLo: new BigUint64Array(v6Lines.length),
    endHi: new BigUint64Array(v6Lines.length),
    endLo: new BigUint64Array(v6Lines.length),
    asn: new Uint32Array(v6Lines.length),
    org: new Uint32Array(v6Lines.length),
  };
  let n6 = 0;
  for (const line of v6Lines) {
    const p = parseLine(line);
    if (!p) continue;
    const s = BigInt(p[0]);
    const e = BigInt(p[1]);
    v6.startHi[n6] = s >> 64n;
    v6.startLo[n6] = s & mask;
    v6.endHi[n6] = e >> 64n;
    v6.endLo[n6] = e & mask;
    v6.asn[n6] = p[2];
    v6.org[n6] = idx(p[3]);
    n6++;
  }
  return {
    v4: { start: v4.start.subarray(0, n4), end: v4.end.subarray(0, n4), asn: v4.asn.subarray(0, n4), org: v4.org.subarray(0, n4) },
    v6: { startHi: v6.startHi.subarray(0, n6), startLo: v6.startLo.subarray(0, n6), endHi: v6.endHi.subarray(0, n6), endLo: v6.endLo.subarray(0, n6), asn: v6.asn.subarray(0, n6), org: v6.org.subarray(0, n6) },
    orgs,
  };
}

/** Index of the last range starting at or before the address (the tables are sorted by start). */
function lastAtOrBefore(count: number, startsAfter: (i: number) => boolean): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (startsAfter(mid)) hi = mid - 1;
    else {
      found = mid;
      lo = mid + 1;
    }
  }
  return found;
}

function asnOf(t: AsnTable, ip: ipaddr.IPv4 | ipaddr.IPv6): { asn: number; org: string } | null {
  if (ip.kind() === 'ipv4') {
    const n = ip.toByteArray().reduce((acc, b) => acc * 256 + b, 0);
    const i = lastAtOrBefore(t.v4.start.length, (k) => (t.v4.start[k] ?? 0) > n);
    if (i < 0 || (t.v4.end[i] ?? 0) < n) return null;
    return { asn: t.v4.asn[i] ?? 0, org: t.orgs[t.v4.org[i] ?? 0] ?? '' };
  }
  const bytes = ip.toByteArray();
  const big = bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  const hi = big >> 64n;
  const lo = big & ((1n << 64n) - 1n);
  const after = (k: number) => {
    const sh = t.v6.startHi[k] ?? 0n;
    return sh > hi || (sh === hi && (t.v6.startLo[k] ?? 0n) > lo);
  };
  const i = lastAtOrBefore(t.v6.startHi.length, after);
  if (i < 0) return null;
  const eh = t.v6.endHi[i] ?? 0n;
  if (eh < hi || (eh === hi && (t.v6.endLo[i] ?? 0n) < lo)) return null;
  return { asn: t.v6.asn[i] ?? 0, org: t.orgs[t.v6.org[i] ?? 0] ?? '' };
}

let loaded: { asn: AsnTable; country: Reader<CountryResponse> } | null = null;

function load() {
  loading ??= (async () => {
    const country = await maxmind.open<CountryResponse>(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb'));
    loaded = { asn: await loadAsn(), country };
    return loaded;
  })();
  return loading;
}

/** Start loading the databases (about half a second) so that `ipOwnerNow` can answer; resolves when loaded. */
export async function preloadIpOwners(): Promise<void> {
  await load();
}

function publicAddress(raw: string | null | undefined): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (!raw) return null;
  const n = normalizeIp(raw.trim());
  if (!ipaddr.isValid(n)) return null;
  const ip = ipaddr.process(n);
  return ip.range() === 'unicast' ? ip : null;
}

function lookup(db: { asn: AsnTable; country: Reader<CountryResponse> }, ip: ipaddr.IPv4 | ipaddr.IPv6): IpOwner | null {
  const as = asnOf(db.asn, ip);
  const c = db.country.get(ip.toString()) as (CountryResponse & { country_code?: string }) | null;
  const country = c?.country_code ?? c?.country?.iso_code ?? null;
  if (!as && !country) return null;
  return { asn: as?.asn ?? null, org: as?.org ?? null, country };
}

/** The owner of a public address (AS number and name, country), or null for private, reserved and unknown ones. */
export async function ipOwner(raw: string | null | undefined): Promise<IpOwner | null> {
  const ip = publicAddress(raw);
  return ip ? lookup(await load(), ip) : null;
}

/**
 * The same, synchronously, for the correlation inside a transaction: undefined while the
 * databases are still loading (the alert view looks the owner up again, asynchronously).
 */
export function ipOwnerNow(raw: string | null | undefined): IpOwner | null | undefined {
  const ip = publicAddress(raw);
  if (!ip) return null;
  if (!loaded) {
    void load().catch(() => {});
    return undefined;
  }
  return lookup(loaded, ip);
}

/** `AS15169 Google LLC, US`. */
export function ownerText(o: IpOwner): string {
  return [o.asn ? `AS${o.asn}${o.org ? ` ${o.org}` : ''}` : null, o.country].filter(Boolean).join(', ');
}
