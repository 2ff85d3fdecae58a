import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';

/**
 * The responder's half of WireGuard's first handshake message (whitepaper section 5.4.2, Noise
 * IKpsk2), as far as recognising the initiator: check mac1 (one keyed BLAKE2s, so stray UDP
 * costs almost nothing), then with two X25519 operations decrypt the initiator's static public
 * key and its TAI64N timestamp. The timestamp opens only for someone holding the static key's
 * private half, so a recognised key with a timestamp is the planted private key in use.
 * Nothing here answers: the handshake is never completed.
 */

/** Size of a handshake initiation: type, sender, ephemeral, static (+tag), timestamp (+tag), mac1, mac2. */
export const INITIATION_SIZE = 148;
const MAC1_AT = 116;

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const hash = (...parts: Uint8Array[]): Uint8Array => blake2s(concat(parts));
const CHAIN0 = hash(enc('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'));
const HASH0 = hash(CHAIN0, enc('WireGuard v1 zx2c4 Jason@zx2c4.com'));

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** HKDF over HMAC-BLAKE2s, first two outputs (the whitepaper's Kdf2). */
function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = hmac(blake2s, key, input);
  const t1 = hmac(blake2s, t0, Uint8Array.of(1));
  const t2 = hmac(blake2s, t0, concat([t1, Uint8Array.of(2)]));
  return [t1, t2];
}

function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return hmac(blake2s, hmac(blake2s, key, input), Uint8Array.of(1));
}

/** AEAD with a zero counter (each key of the initiation is used once); null when the tag is wrong. */
function open(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    return chacha20poly1305(key, new Uint8Array(12), ad).decrypt(sealed);
  } catch {
    return null;
  }
}

/** What a responder holds: its key pair and the mac1 key derived from its public key. */
export interface Responder {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  mac1Key: Uint8Array;
  /** Hash(HASH0 || responder public key): the handshake hash after the pre-message. */
  hash1: Uint8Array;
}

export function responder(privateKey: Uint8Array, publicKey: Uint8Array): Responder {
  return { privateKey, publicKey, mac1Key: hash(enc('mac1----'), publicKey), hash1: hash(HASH0, publicKey) };
}

/** Whether a datagram has the shape of a handshake initiation (type 1, zero reserved bytes, 148 bytes). */
export function isInitiation(msg: Uint8Array): boolean {
  return msg.length === INITIATION_SIZE && msg[0] === 1 && msg[1] === 0 && msg[2] === 0 && msg[3] === 0;
}

/** mac1 = MAC(HASH("mac1----" || Spub_r), msg[0:116]), compared in constant time. */
export function mac1Valid(r: Responder, msg: Uint8Array): boolean {
  const want = blake2s(msg.subarray(0, MAC1_AT), { key: r.mac1Key, dkLen: 16 });
  const got = msg.subarray(MAC1_AT, MAC1_AT + 16);
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= (want[i] ?? 0) ^ (got[i] ?? 0);
  return diff === 0;
}

export interface OpenedInitiation {
  /** The initiator's static public key. */
  staticKey: Uint8Array;
  senderIndex: number;
  /** The initiator's clock (TAI64N), or null when the timestamp did not open: the key's private half was not used. */
  timestamp: Date | null;
}

/** Decrypt the initiator's static key (and timestamp) from an initiation whose mac1 was checked; null when it does not open. */
export function openInitiation(r: Responder, msg: Uint8Array): OpenedInitiation | null {
  const ephemeral = msg.subarray(8, 40);
  const sealedStatic = msg.subarray(40, 88);
  const sealedTime = msg.subarray(88, 116);
  let chain = kdf1(CHAIN0, ephemeral);
  let h = hash(r.hash1, ephemeral);
  let key: Uint8Array;
  try {
    [chain, key] = kdf2(chain, x25519.getSharedSecret(r.privateKey, ephemeral));
  } catch {
    return null; // a low-order point: no shared secret
  }
  const staticKey = open(key, sealedStatic, h);
  if (!staticKey) return null;
  h = hash(h, sealedStatic);
  let timestamp: Date | null = null;
  try {
    [, key] = kdf2(chain, x25519.getSharedSecret(r.privateKey, staticKey));
    const tai = open(key, sealedTime, h);
    if (tai && tai.length === 12) timestamp = taiToDate(tai);
  } catch {
    timestamp = null;
  }
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  return { staticKey, senderIndex: view.getUint32(4, true), timestamp };
}

/**
 * TAI64N: seconds big-endian, then nanoseconds. WireGuard (the kernel's and wireguard-go) writes
 * the Unix time plus 0x400000000000000a (2^62 and TAI's 10 s offset of 1972), coarsened.
 */
const TAI64N_BASE = 0x400000000000000an;

function taiToDate(tai: Uint8Array): Date | null {
  const view = new DataView(tai.buffer, tai.byteOffset, tai.byteLength);
  const seconds = view.getBigUint64(0) - TAI64N_BASE;
  const nanos = view.getUint32(8);
  const ms = Number(seconds) * 1000 + Math.floor(nanos / 1e6);
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms) : null;
}
