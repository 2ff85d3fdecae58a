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
