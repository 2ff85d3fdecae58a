import { isIPv4, isIPv6 } from 'node:net';
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet';
import type { Config } from '../config.ts';

/**
 * What the authoritative server publishes for DNS_ZONE, and the pure function that turns one
 * question into a response. No sockets and no database here: `dns.ts` does the wire and the
 * hit, this decides the answer, so every answer rule can be read (and tested) in one place.
 */

/** The zone as the server publishes it; derived once from the config. */
export interface ZoneSettings {
  /** Lower-case zone apex without the trailing dot. */
  zone: string;
  ipv4: string;
  /** True when no address was configured or derivable and `ipv4` is the 127.0.0.1 fallback. */
  ipv4Fallback: boolean;
  ipv6: string | null;
  nameServers: readonly string[];
  /** SOA RNAME in mailbox form (`hostmaster.corp.example`). */
  hostmaster: string;
  serial: number;
  /** TTL of A/AAAA/NS answers; short, so a later touch reaches us again instead of a cache. */
  ttl: number;
  /** SOA minimum: how long resolvers cache NODATA and NXDOMAIN answers. */
  negativeTtl: number;
  /** Lower-case names below the apex that always exist: in-zone name servers and the public listener's host. */
  fixedNames: ReadonlySet<string>;
}

/** Largest UDP answer we send, whatever the client's EDNS buffer (the DNS flag day 2020 value). */
export const MAX_UDP_ANSWER = 1232;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const FLAG_AA = 1 << 10;
const FLAG_TC = 1 << 9;
const FLAG_RD = 1 << 8;

/**
 * Derive the published zone from the config. Answer addresses default to the public
 * listener's address when it is an IP literal (PUBLIC_URL host, then PUBLIC_HOST), so a PDF or
 * browser that follows a token host name lands on the public listener; otherwise 127.0.0.1
 * (and no AAAA) until DNS_ANSWER_IPV4 / DNS_ANSWER_IPV6 are set.
 */
export function zoneSettings(config: Config, now = new Date()): ZoneSettings {
  const zone = config.DNS_ZONE.toLowerCase();
  const urlHost = hostOf(config.PUBLIC_URL);
  const pick = (check: (v: string) => boolean, wildcard: string): string | null => {
    if (check(urlHost)) return urlHost;
    if (check(config.PUBLIC_HOST) && config.PUBLIC_HOST !== wildcard) return config.PUBLIC_HOST;
    return null;
  };
  const derived = config.DNS_ANSWER_IPV4 ?? pick(isIPv4, '0.0.0.0');
  const ipv4 = derived ?? '127.0.0.1';
  const ipv6 = config.DNS_ANSWER_IPV6 ?? pick(isIPv6, '::');
  const [local = 'hostmaster', domain = zone] = (config.DNS_HOSTMASTER ?? `hostmaster@${zone}`).toLowerCase().split('@');
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  const nameServers = config.DNS_NS ?? [`ns1.${zone}`];
  const fixedNames = new Set([...nameServers, urlHost].map((n) => n.toLowerCase()).filter((n) => n.endsWith(`.${zone}`)));
  return {
    zone,
    ipv4,
    ipv4Fallback: derived === null,
    ipv6,
    nameServers,
    hostmaster: `${local.replace(/\./g, '\\.')}.${domain}`,
    serial: Number(`${day}01`),
    ttl: 60,
    negativeTtl: 60,
    fixedNames,
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return '';
  }
}

/**
 * Labels of `name` below the zone, left to right, as sent (case kept); null when the name is
 * not the zone or under it. Comparison is case-insensitive, so 0x20-randomised queries match.
 */
export function labelsBelowZone(name: string, zone: string): string[] | null {
  const lower = name.toLowerCase();
  if (lower === zone) return [];
  if (!lower.endsWith(`.${zone}`)) return null;
  return name.slice(0, name.length - zone.length - 1).split('.');
}

/** The outcome of answering one question. */
export interface ZoneAnswer {
  packet: Packet;
  /** The question was in the zone (only then can it carry a token). */
  inZone: boolean;
}

/**
 * Answer one well-formed query. An in-zone name that `exists` (the apex, a name server, a live
 * token's name: the caller decides) resolves to the answer addresses, the apex also carries SOA
 * and NS, other types get NOERROR with no data and the SOA in the authority section; any other
 * in-zone name is NXDOMAIN with the SOA, as a real zone answers. Outside the zone, other classes
 * and zone transfers: REFUSED. Answer names echo the question's spelling, so resolvers checking
 * 0x20 case accept them.
 */
export function answerQuery(query: DecodedPacket, z: ZoneSettings, exists = true): ZoneAnswer {
  const question = query.questions?.[0];
  const reply = baseReply(query);
  if (!question) return { packet: withRcode(reply, RCODE.FORMERR), inZone: false };
  reply.questions = [question];
  if ((queryOpt(query)?.ednsVersion ?? 0) > 0) return { packet: withRcode(reply, RCODE.NOERROR), inZone: false };
  const labels = labelsBelowZone(question.name, z.zone);
  const klass = question.class ?? 'IN';
  if (labels === null || (klass !== 'IN' && klass !== 'ANY') || question.type === 'AXFR' || question.type === 'IXFR') {
    return { packet: withRcode(reply, RCODE.REFUSED), inZone: labels !== null };
  }
  reply.flags = (reply.flags ?? 0) | FLAG_AA;
  const apex = labels.length === 0;
  if (!apex && !exists) return { packet: { ...withRcode(reply, RCODE.NXDOMAIN), authorities: [soa(z)] }, inZone: true };
  const answers = recordsFor(question, apex, z);
  if (answers.length === 0) {
    reply.authorities = [soa(z)];
  } else {
    reply.answers = answers;
    if (question.type === 'NS') reply.additionals = glue(z);
  }
  return { packet: reply, inZone: true };
}

function recordsFor(q: Question, apex: boolean, z: ZoneSettings): Answer[] {
  const a: Answer = { type: 'A', name: q.name, ttl: z.ttl, data: z.ipv4 };
  const aaaa: Answer[] = z.ipv6 ? [{ type: 'AAAA', name: q.name, ttl: z.ttl, data: z.ipv6 }] : [];
  const ns: Answer[] = z.nameServers.map((host) => ({ type: 'NS', name: q.name, ttl: 3600, data: host }));
  // dns-packet's RecordType omits ANY (255) though it decodes it; compare as a plain string.
  switch (q.type as string) {
    case 'A':
      return [a];
    case 'AAAA':
      return aaaa;
    case 'ANY':
      return apex ? [{ ...soa(z), name: q.name }, ...ns, a, ...aaaa] : [a, ...aaaa];
    case 'SOA':
      return apex ? [{ ...soa(z), name: q.name }] : [];
    case 'NS':
      return apex ? ns : [];
    default:
      return [];
  }
}

function soa(z: ZoneSettings): Answer {
  return {
    type: 'SOA',
    name: z.zone,
    ttl: z.negativeTtl,
    data: {
      mname: z.nameServers[0] ?? `ns1.${z.zone}`,
      rname: z.hostmaster,
      serial: z.serial,
      refresh: 7200,
      retry: 3600,
      expire: 1209600,
      minimum: z.negativeTtl,
    },
  };
}

/** Addresses of name servers inside the zone (they resolve like any other name in it). */
function glue(z: ZoneSettings): Answer[] {
  return z.nameServers
    .filter((host) => labelsBelowZone(host, z.zone) !== null)
    .flatMap((host): Answer[] => [
      { type: 'A', name: host, ttl: 3600, data: z.ipv4 },
      ...(z.ipv6 ? [{ type: 'AAAA' as const, name: host, ttl: 3600, data: z.ipv6 }] : []),
    ]);
}

/** A response skeleton: same id, RD copied, our EDNS record when the query had one. */
function baseReply(query: DecodedPacket): Packet {
  const opt = queryOpt(query);
  const reply: Packet = { type: 'response', id: query.id ?? 0, flags: (query.flags ?? 0) & FLAG_RD, questions: [], answers: [], authorities: [], additionals: [] };
  if (opt) {
    const badVersion = opt.ednsVersion > 0;
    // BADVERS (16) is extended rcode 1 with a zero header rcode.
    reply.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_ANSWER, extendedRcode: badVersion ? 1 : 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  }
  return reply;
}

/** The query's EDNS OPT record, if any. */
export function queryOpt(query: Pick<DecodedPacket, 'additionals'>): OptAnswer | undefined {
  return query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
}

/** EDNS Client Subnet of the query (`192.0.2.0/24`) when the resolver sent one. */
export function clientSubnet(query: Pick<DecodedPacket, 'additionals'>): string | null {
  const opt = queryOpt(query);
  const ecs = opt?.options?.find((o) => o.code === 8);
  if (!ecs || !('ip' in ecs) || !ecs.ip) return null;
  return `${ecs.ip}/${ecs.sourcePrefixLength ?? 0}`;
}

export function withRcode(reply: Packet, rcode: number): Packet {
  return { ...reply, flags: ((reply.flags ?? 0) & ~0xf) | rcode, answers: [], authorities: [] };
}

/**
 * Fit a response into a UDP datagram: `limit` bytes (512 without EDNS, the client's EDNS
 * size capped at MAX_UDP_ANSWER with it). Too large: drop the records and set TC so the
 * resolver retries over TCP.
 */
export function truncated(reply: Packet): Packet {
  return {
    ...reply,
    flags: (reply.flags ?? 0) | FLAG_TC,
    answers: [],
    authorities: [],
    additionals: (reply.additionals ?? []).filter((a) => a.type === 'OPT'),
  };
}

/** UDP size limit for answers to this query. */
export function udpLimit(query: Pick<DecodedPacket, 'additionals'>): number {
  const opt = queryOpt(query);
  if (!opt) return 512;
  return Math.min(Math.max(opt.udpPayloadSize, 512), MAX_UDP_ANSWER);
}
