import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { collectionTechniques, detail } from './hit-words.ts';
import { trimEndChars } from '../text.ts';
import { defineKind } from './kind.ts';
import { tokenHostName } from './addresses.ts';

const params = z.object({}).describe('A DNS token needs no settings: its host name is derived from its id');

type DnsParams = z.infer<typeof params>;

/** Marker label left of the id that says "the labels before me are base32 data" (canarytokens-compatible `G<2 digits>`). */
const MARKER = /^g\d{2}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const MAX_DATA_LABELS = 8;

/** RFC 4648 base32 without padding, case-insensitive; null when the text is not base32. */
export function base32Decode(text: string): Buffer | null {
  const clean = trimEndChars(text.toUpperCase(), '=');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** Base32 (no padding, lower case) split into DNS-label-sized chunks: how a script sends data through a DNS token. */
export function base32Labels(data: Buffer, chunk = 60): string[] {
  let bits = 0;
  let value = 0;
  let text = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      text += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) text += BASE32[(value << (5 - bits)) & 31];
  const labels: string[] = [];
  for (let i = 0; i < text.length; i += chunk) labels.push(text.slice(i, i + chunk).toLowerCase());
  return labels;
}

/** A data-carrying host name for token host `host`: `<chunks>.g<nn>.<host>`. */
export function dataHostname(host: string, data: Buffer): string {
  return [...base32Labels(data), `g${String(randomInt(100)).padStart(2, '0')}`, host].join('.');
}

function decodeData(labels: readonly string[]): Record<string, unknown> {
  const markerAt = labels.length - 1;
  if (markerAt < 0) return {};
  if (!MARKER.test(labels[markerAt] ?? '')) return { labels: labels.slice(-MAX_DATA_LABELS) };
  const chunks = labels.slice(0, markerAt);
  const bytes = base32Decode(chunks.join(''));
  if (!bytes) return { labels: chunks.slice(-MAX_DATA_LABELS), dataError: 'not base32' };
  const text = bytes.toString('utf8');
  const printable = !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text);
  return printable ? { data: text } : { dataHex: bytes.toString('hex') };
}

/** A host name under DNS_ZONE: any lookup of it (any record type) is a hit; scripts can smuggle data in base32 labels. */
export const dnsToken = defineKind<DnsParams>({
  id: 'dns',
  label: 'DNS name',
  description: 'A unique host name under the DNS zone. Any lookup of it, of any record type, from any resolver, is recorded.',
  channels: ['dns'],
  techniques: ['T1018', 'T1083', 'T1552.001'],
  params,
  example: {},
  create(_ctx, _id, p) {
    return { params: p };
  },
  artifact(ctx, token) {
    const host = `${tokenHostName(ctx.config.DNS_ZONE, token)}`;
    return {
      hostname: host,
      hint: `Plant the name where only an intruder would resolve it: a hosts file, a script, a config file, a bookmark, an SSH config. Data can ride along as base32 labels: <base32>.G42.${host} (the G plus two digits marks the data).`,
    };
  },
  explain(hit, token) {
    const data = detail(hit.details, 'data');
    const carried = data ? ` carrying data "${data.slice(0, 120)}"` : detail(hit.details, 'dataHex') ? ' carrying binary data' : '';
    return { action: `the name was resolved (${hit.qtype ?? 'A'} ${hit.qname ?? ''})${carried}`.replace(/\s+\)/, ')'), evidence: 'touch', techniques: collectionTechniques(token) };
  },
  dns: {
    describe(query) {
      const details = decodeData(query.dataLabels);
      return Object.keys(details).length > 0 ? { details } : {};
    },
  },
});
