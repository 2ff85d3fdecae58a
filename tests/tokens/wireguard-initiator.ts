import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';

/**
 * A WireGuard initiator for tests: the first handshake message a client sends when its tunnel
 * comes up, built from the WireGuard whitepaper (section 5.4.2, Noise IKpsk2) with the noble
 * primitives, independently of the listener's code. No userspace WireGuard runs here without a
 * tun device and privileges (wireguard-go, boringtun), so tests cannot use a real client.
 */
const enc = (t: string) => new TextEncoder().encode(t);
const cat = (...p: Uint8Array[]) => Uint8Array.from(Buffer.concat(p));
const HASH = (...p: Uint8Array[]) => blake2s(cat(...p));
const HMAC = (k: Uint8Array, m: Uint8Array) => hmac(blake2s, k, m);
const KDF = (k: Uint8Array, m: Uint8Array): [Uint8Array, Uint8Array] => {
  const t0 = HMAC(k, m);
  const t1 = HMAC(t0, Uint8Array.of(1));
  return [t1, HMAC(t0, cat(t1, Uint8Array.of(2)))];
};
const AEAD = (k: Uint8Array, plain: Uint8Array, ad: Uint8Array) => chacha20poly1305(k, new Uint8Array(12), ad).encrypt(plain);

/** TAI64N as WireGuard writes it: Unix seconds + 0x400000000000000a (kernel noise.c, wireguard-go tai64n.go), then nanoseconds. */
function tai64n(d: Date): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(0x400000000000000an + BigInt(Math.floor(d.getTime() / 1000)));
  b.writeUInt32BE((d.getTime() % 1000) * 1e6, 8);
  return b;
}

/**
 * A handshake initiation from `initiatorPriv` to the server `serverPub`. `claimStatic` puts
 * another public key in the static field (an initiator without that key's private half).
 */
export function wireguardInitiation(initiatorPriv: Uint8Array, serverPub: Uint8Array, opts: { claimStatic?: Uint8Array; clock?: Date; breakMac?: boolean } = {}): Buffer {
  const ePriv = x25519.utils.randomSecretKey();
  const ePub = x25519.getPublicKey(ePriv);
  const C0 = HASH(enc('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'));
  const H0 = HASH(HASH(C0, enc('WireGuard v1 zx2c4 Jason@zx2c4.com')), serverPub);
  const C1 = HMAC(HMAC(C0, ePub), Uint8Array.of(1));
  const H1 = HASH(H0, ePub);
  const [C2, k1] = KDF(C1, x25519.getSharedSecret(ePriv, serverPub));
  const sealedStatic = AEAD(k1, opts.claimStatic ?? x25519.getPublicKey(initiatorPriv), H1);
  const H2 = HASH(H1, sealedStatic);
  const [, k2] = KDF(C2, x25519.getSharedSecret(initiatorPriv, serverPub));
  const sealedTime = AEAD(k2, tai64n(opts.clock ?? new Date()), H2);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(1, 0);
  head.writeUInt32LE(randomBytes(4).readUInt32LE(0), 4);
  const body = Buffer.concat([head, ePub, sealedStatic, sealedTime]);
  const mac1 = blake2s(body, { key: HASH(enc('mac1----'), serverPub), dkLen: 16 });
  if (opts.breakMac) mac1[0] = (mac1[0] ?? 0) ^ 1;
  return Buffer.concat([body, mac1, Buffer.alloc(16)]);
}

/** Send datagrams from one socket to 127.0.0.1:`port`; resolve with whatever came back within `waitMs`. */
export function sendUdp(packets: Buffer | Buffer[], port: number, waitMs = 300): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    sock.bind(0, '127.0.0.1', () => {
      for (const p of Array.isArray(packets) ? packets : [packets]) sock.send(p, port, '127.0.0.1');
      setTimeout(() => sock.close(() => resolve(replies)), waitMs);
    });
  });
}

