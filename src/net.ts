import ipaddr from 'ipaddr.js';

/** Normalise an address: strip IPv4-mapped IPv6 (`::ffff:10.0.0.1` -> `10.0.0.1`), zone ids, brackets. */
export function normalizeIp(ip: string): string {
  const known = normalized.get(ip);
  if (known !== undefined) return known;
  const out = parseNormal(ip);
  // Hits come from few addresses at a time; a flood of distinct ones only clears the memo.
  if (normalized.size >= 10_000) normalized.clear();
  normalized.set(ip, out);
  return out;
}

const normalized = new Map<string, string>();

function parseNormal(ip: string): string {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return bare;
  const parsed = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address().toString();
  }
  return parsed.toString();
}

/** A host name as the network map and a token's "planted on host" take it: WS-ACCT-07, fs01.corp.example. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,253})$/;
/** The sentence shown when a host name does not match HOST_NAME_PATTERN. */
export const HOST_NAME_MESSAGE = 'must be a host name such as WS-ACCT-07 or fs01.corp.example (letters, digits, dots, dashes and underscores)';

/** True when `value` is a valid CIDR (`10.0.0.0/8`) or a single address. */
export function isCidr(value: string): boolean {
  return ipaddr.isValidCIDR(value) || ipaddr.isValid(value);
}

/** Compile a list of CIDRs/addresses into a matcher; invalid entries are rejected at the edge, not here. */
export function cidrMatcher(list: readonly string[]): (ip: string) => boolean {
  const ranges = list.filter(isCidr).map((c) => (c.includes('/') ? ipaddr.parseCIDR(c) : toHostCidr(c)));
  if (ranges.length === 0) return () => false;
  return (ip) => {
    const n = normalizeIp(ip);
    if (!ipaddr.isValid(n)) return false;
    const addr = ipaddr.parse(n);
    return ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
  };
}

function toHostCidr(ip: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const addr = ipaddr.parse(normalizeIp(ip));
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
const NAT64_LOCAL = ipaddr.parseCIDR('64:ff9b:1::/48');
const SIX_TO_FOUR = ipaddr.parseCIDR('2002::/16');
const TEREDO = ipaddr.parseCIDR('2001::/32');

/**
 * The IPv4 addresses an IPv6 address leads to, for range checks (the webhook SSRF guard): an
 * address such as `::a00:1` or `64:ff9b::7f00:1` reaches 10.0.0.1 or 127.0.0.1 through the
 * host's stack or a translator, yet its own IPv6 range looks public. Covers IPv4-compatible
 * (`::a.b.c.d`), IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), 6to4
 * (`2002:aabb:ccdd::/48`), NAT64 (`64:ff9b::/96`) and Teredo (`2001::/32`: the server and the
 * de-obfuscated client). Returns [] when it embeds none, and null for a local-use NAT64 prefix
 * (`64:ff9b:1::/48`), whose embedding depends on the site, so it cannot be checked.
 */
export function embeddedIpv4(addr: ipaddr.IPv6): ipaddr.IPv4[] | null {
  const p = addr.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const at = (i: number) => p[i] ?? 0;
  const zeros = (from: number, to: number) => p.slice(from, to).every((x) => x === 0);
  if (addr.match(NAT64_LOCAL)) return null;
  if (addr.match(NAT64_WELL_KNOWN)) return [v4(at(6), at(7))];
  if (addr.match(SIX_TO_FOUR)) return [v4(at(1), at(2))];
  if (addr.match(TEREDO)) return [v4(at(2), at(3)), v4(~at(6) & 0xffff, ~at(7) & 0xffff)];
  if (zeros(0, 5) && (at(5) === 0xffff || (at(5) === 0 && (at(6) !== 0 || at(7) > 1)))) return [v4(at(6), at(7))]; // mapped, compatible (not :: or ::1)
  if (zeros(0, 4) && at(4) === 0xffff && at(5) === 0) return [v4(at(6), at(7))]; // translated
  return [];
}
