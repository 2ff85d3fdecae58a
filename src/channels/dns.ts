import dnsPacket, { type DecodedPacket } from 'dns-packet';
import type { AppDeps } from '../deps.ts';
import { tokenLookups, type TokenLookups } from '../db/queries/tokens.ts';
import type { TokenRow } from '../db/schema.ts';
import { normalizeIp } from '../net.ts';
import type { RunningListener } from '../listeners/registry.ts';
import { isTokenId } from '../tokens/ids.ts';
import type { DnsQueryInfo, HitFacts, Token, TokenKind } from '../tokens/kind.ts';
import { findKind } from '../tokens/registry.ts';
import { createDropLog, createRateLimiter, type DropLog } from './dns-guard.ts';
import { bindDns } from './dns-sockets.ts';
import { answerQuery, clientSubnet, labelsBelowZone, RCODE, truncated, udpLimit, zoneSettings } from './dns-zone.ts';

/** Size and count bounds of the attacker-facing DNS listener. */
export const DNS_LIMITS = {
  /** Largest query handled (UDP datagram or TCP frame); real queries are under 600 bytes. */
  maxQueryBytes: 4096,
  /** UDP queries in flight at once (each waits for its hit's commit); beyond this they are dropped. */
  maxUdpPending: 4096,
  /** Additional records accepted in a query (OPT, a cookie or TSIG …); more is FORMERR. */
  maxAdditionals: 4,
  /** TCP connections open at once, in total and per source address. */
  maxTcpConnections: 128,
  maxTcpPerSource: 16,
  /** A TCP connection idle this long is closed; none lives longer than the lifetime. */
  tcpIdleMs: 10_000,
  tcpLifetimeMs: 60_000,
  /** Queries answered on one TCP connection, and in flight at once on it. */
  tcpMaxQueries: 1000,
  tcpMaxPending: 16,
} as const;

export type Transport = 'udp' | 'tcp';

/** One query as a socket received it. */
export interface DnsInput {
  message: Buffer;
  sourceIp: string;
  sourcePort: number;
  transport: Transport;
}

/** Answers one query; resolves to the bytes to send back, or null to stay silent. */
export type DnsHandler = (input: DnsInput) => Promise<Buffer | null>;

const QR = 0x8000;
const OPCODE_MASK = 0x7800;
/** Control characters and U+FFFD (bytes that were not UTF-8) never appear in a name we answer. */
const BAD_NAME = /[\u0000-\u001f\u007f\ufffd]/;

/**
 * The DNS channel: an authoritative server for DNS_ZONE. Every query for a name under a live
 * token's host label is a hit (any type); labels left of it are data for the kind to decode.
 * Like a real zone, only the apex, its name servers, the public host and live token names
 * exist: anything else (unknown, disabled or retired tokens alike) is NXDOMAIN. The answer is
 * sent only after the hit is committed.
 * Bad packets are answered FORMERR or dropped, never crash the listener, and are logged bounded.
 */
export function createDnsHandler(deps: AppDeps, drops: DropLog = createDropLog(deps.log)): DnsHandler {
  const { log, recorder } = deps;
  const zone = zoneSettings(deps.config);
  if (zone.ipv4Fallback) {
    // Lookups are still recorded; only what a follower of a token host name reaches is wrong.
    log.warn({ zone: zone.zone, publicUrl: deps.config.PUBLIC_URL }, 'token host names resolve to 127.0.0.1: set DNS_ANSWER_IPV4 to the public listener\'s address (PUBLIC_URL names no IP to derive it from)');
  }
  const lookups = tokenLookups(deps.db);

  /** The live DNS token a name below the zone names, if any (logged when it names an inactive one). */
  const findToken = async (labels: string[], input: DnsInput): Promise<{ row: TokenRow; kind: TokenKind; at: number } | undefined> => {
    const found = await tokenForLabels(lookups, labels);
    if (!found) return undefined;
    const kind = findKind(found.row.kind);
    if (!kind || !kind.channels.includes('dns') || !isLive(found.row)) {
      log.info({ event: 'unknown-token', channel: 'dns', tokenId: found.row.id, resolver: input.sourceIp }, 'dns query for an inactive token');
      return undefined;
    }
    return { row: found.row, kind, at: found.at };
  };

  const record = async (input: DnsInput, query: DecodedPacket, labels: string[], found: { row: TokenRow; kind: TokenKind; at: number }): Promise<void> => {
    const { row, kind, at } = found;
    const sourceIp = normalizeIp(input.sourceIp);
    const question = query.questions?.[0];
    const qname = (question?.name ?? '').toLowerCase();
    const qtype = question?.type ?? 'A';
    const rawDataLabels = labels.slice(0, at);
    const info: DnsQueryInfo = {
      qname,
      qtype,
      dataLabels: rawDataLabels.map((l) => l.toLowerCase()),
      rawDataLabels,
      resolverIp: sourceIp,
      clientSubnet: clientSubnet(query),
      transport: input.transport,
    };
    const token = row as Token;
    const facts: HitFacts = kind.dns?.describe?.(info, token) ?? {};
    const channelDetails: Record<string, unknown> = { source: 'resolver', transport: input.transport };
    if (info.clientSubnet) channelDetails.clientSubnet = info.clientSubnet;
    await recorder.record({
      token,
      channel: 'dns',
      sourceIp,
      sourcePort: input.sourcePort,
      qname,
      qtype,
      facts: { ...facts, details: { ...channelDetails, ...facts.details } },
    });
  };

  return async (input) => {
    const msg = input.message;
    if (msg.length < 12) {
      drops.note('malformed', input.sourceIp, 'shorter than a header');
      return null;
    }
    const flags = msg.readUInt16BE(2);
    if (flags & QR) {
      drops.note('not-a-query', input.sourceIp, 'response packet');
      return null;
    }
    if (msg.length > DNS_LIMITS.maxQueryBytes) {
      drops.note('oversize', input.sourceIp, `${msg.length} bytes`);
      return headerReply(msg, RCODE.FORMERR);
    }
    if ((flags & OPCODE_MASK) !== 0) return headerReply(msg, RCODE.NOTIMP);
    if (msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0 || msg.readUInt16BE(10) > DNS_LIMITS.maxAdditionals) {
      drops.note('malformed', input.sourceIp, 'section counts');
      return headerReply(msg, RCODE.FORMERR);
    }
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch (err) {
      drops.note('malformed', input.sourceIp, err instanceof Error ? err.message : 'undecodable');
      return headerReply(msg, RCODE.FORMERR);
    }
    const question = query.questions?.[0];
    const opts = query.additionals?.filter((a) => a.type === 'OPT').length ?? 0;
    if (!question || BAD_NAME.test(question.name) || opts > 1) {
      drops.note('malformed', input.sourceIp, 'bad name or EDNS');
      return headerReply(msg, RCODE.FORMERR);
    }

    const labels = labelsBelowZone(question.name, zone.zone);
    let found: Awaited<ReturnType<typeof findToken>>;
    try {
      found = labels && labels.length > 0 && !zone.fixedNames.has(question.name.toLowerCase()) ? await findToken(labels, input) : undefined;
      const exists = labels !== null && (labels.length === 0 || zone.fixedNames.has(question.name.toLowerCase()) || found !== undefined);
      const { packet } = answerQuery(query, zone, exists);
      if (found && labels) await record(input, query, labels, found);
      return encodeReply(packet, input.transport === 'udp' ? udpLimit(query) : 65_535);
    } catch (err) {
      // Not stored: SERVFAIL makes the resolver ask again, which gives the hit another chance.
      log.error({ err, qname: question.name.slice(0, 300) }, 'dns hit could not be recorded');
      return headerReply(msg, RCODE.SERVFAIL);
    }
  };
}

/**
 * The token a name's labels (below the zone) name: the label right below the zone is a token's
 * host label; tokens made before host labels are named by their id, the right-most id-shaped
 * label. Labels left of the token's are data for the kind (`at` is the token label's index).
 */
export async function tokenForLabels(lookups: TokenLookups, labels: readonly string[]): Promise<{ row: TokenRow; at: number } | undefined> {
  const last = labels.length - 1;
  const label = (labels[last] ?? '').toLowerCase();
  if (label.length > 0 && label.length <= MAX_HOST_LABEL) {
    const row = await lookups.byHostLabel(label);
    if (row) return { row, at: last };
  }
  const at = tokenLabelIndex(labels);
  if (at < 0) return undefined;
  const row = await lookups.byId((labels[at] ?? '').toLowerCase());
  return row ? { row, at } : undefined;
}

/** Longest host label a token is given (see tokens/addresses.ts); longer ones are never looked up. */
const MAX_HOST_LABEL = 32;

/** Index of the right-most label that is shaped like a token id, or -1. */
export function tokenLabelIndex(labels: readonly string[]): number {
  for (let i = labels.length - 1; i >= 0; i--) {
    if (isTokenId((labels[i] ?? '').toLowerCase())) return i;
  }
  return -1;
}

function encodeReply(packet: dnsPacket.Packet, limit: number): Buffer {
  const bytes = dnsPacket.encode(packet);
  return bytes.length <= limit ? bytes : dnsPacket.encode(truncated(packet));
}

/** A header-only reply (FORMERR, NOTIMP, SERVFAIL): same id and opcode, RD copied, no sections. */
function headerReply(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  out.writeUInt16BE(QR | (query.readUInt16BE(2) & (OPCODE_MASK | 0x0100)) | rcode, 2);
  return out;
}

/** An enabled decoy fires; one past its expiry still does (it is due for rotation, not dead: see tokens/freshness.ts). */
function isLive(token: TokenRow): boolean {
  return token.enabled;
}

/**
 * Start the DNS listener (UDP and TCP on one port) as the `dns` RunningListener. A per-source
 * rate limit is applied to both transports before any parsing. `limits` overrides the bounds
 * (tests use short timeouts).
 */
export async function startDnsListener(deps: AppDeps, limits: Partial<Record<keyof typeof DNS_LIMITS, number>> = {}): Promise<RunningListener> {
  const { config, log } = deps;
  const drops = createDropLog(log);
  const handler = createDnsHandler(deps, drops);
  const limiter = createRateLimiter({ perSecond: config.DNS_RATE_LIMIT });
  const running = await bindDns({
    host: config.DNS_HOST,
    port: config.DNS_PORT,
    log,
    drops,
    limits: { ...DNS_LIMITS, ...limits },
    allow: (ip) => limiter.allow(ip),
    handle: (message, source, transport) =>
      handler({ message, sourceIp: source.address, sourcePort: source.port, transport }),
  });
  return { name: 'dns', address: running.address, close: running.close };
}
