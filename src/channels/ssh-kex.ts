import { createHash } from 'node:crypto';
import type { SshKexOffer } from '../tokens/kind.ts';

/**
 * A passive reader of what an SSH client sends before encryption starts: its identification
 * line and its KEXINIT algorithm lists, for the HASSH client fingerprint. It only watches the
 * bytes ssh2 parses (nothing is answered here) and stops after the first packet or `maxBytes`.
 */

/** Bytes watched at most (identification line plus one KEXINIT; real ones are under 2 kB). */
export const KEX_TAP_BYTES = 16 * 1024;
const MAX_NAMES = 40;
const MAX_NAME = 64;

export interface KexTap {
  /** Feed bytes received; returns true once done (offer read, or gave up). */
  push(chunk: Buffer): boolean;
  readonly offer: SshKexOffer | null;
  /** HASSH of the offer (from the full lists, before clipping). */
  readonly hassh: string | null;
}

export function createKexTap(maxBytes = KEX_TAP_BYTES): KexTap {
  let buf = Buffer.alloc(0);
  let done = false;
  let seen: KexInit | null = null;
  return {
    get offer() {
      return seen?.offer ?? null;
    },
    get hassh() {
      return seen?.hassh ?? null;
    },
    push(chunk) {
      if (done) return true;
      buf = Buffer.concat([buf, chunk.subarray(0, Math.max(0, maxBytes - buf.length))]);
      const result = parseKexInit(buf);
      if (result !== 'more') seen = result;
      done = result !== 'more' || buf.length >= maxBytes;
      if (done) buf = Buffer.alloc(0);
      return done;
    },
  };
}

export interface KexInit {
  offer: SshKexOffer;
  hassh: string;
}

/** The client's KEXINIT after its identification line(s), null when it is not one, 'more' when incomplete. */
export function parseKexInit(data: Buffer): KexInit | null | 'more' {
  // Lines before the binary packet end with LF; the SSH- one is the identification.
  let at = 0;
  for (;;) {
    const nl = data.indexOf(0x0a, at);
    if (nl < 0) return 'more';
    const line = data.subarray(at, nl).toString('latin1');
    at = nl + 1;
    if (line.startsWith('SSH-')) break;
    if (at > 8192) return null;
  }
  if (data.length < at + 6) return 'more';
  const packetLength = data.readUInt32BE(at);
  if (packetLength < 20 || packetLength > 35_000) return null;
  if (data.length < at + 4 + packetLength) return 'more';
  const padding = data[at + 4] ?? 0;
  const payload = data.subarray(at + 5, at + 4 + packetLength - padding);
  if (payload[0] !== 20 || payload.length < 17) return null;
  const lists: string[][] = [];
  const raw: string[] = [];
  let p = 17;
  for (let i = 0; i < 10; i++) {
    if (p + 4 > payload.length) return null;
    const len = payload.readUInt32BE(p);
    if (p + 4 + len > payload.length) return null;
    const names = payload.subarray(p + 4, p + 4 + len).toString('latin1');
    raw.push(names);
    lists.push(names ? names.split(',').slice(0, MAX_NAMES).map((n) => n.slice(0, MAX_NAME)) : []);
    p += 4 + len;
  }
  const [kex = [], hostKey = [], cipher = [], , mac = [], , compression = []] = lists;
  // HASSH (Salesforce): md5 of `kex;ciphers;macs;compression`, client-to-server lists as sent.
  const hassh = createHash('md5').update([raw[0], raw[2], raw[4], raw[6]].join(';')).digest('hex');
  return { offer: { kex, hostKey, cipher, mac, compression }, hassh };
}
