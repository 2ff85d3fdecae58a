import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { ensurePrivateDir, PRIVATE_FILE } from './files.ts';

/**
 * The WireGuard listener's static key pair, made at first start as `wg genkey` makes one and
 * kept in `<DATA_DIR>/wireguard/private.key` (base64, as wg writes it), so restarts keep the
 * public key that planted configs name as their `[Peer] PublicKey`. The admin process reads the
 * same file to write configs: processes on different machines must share this folder (or copy it).
 */

export interface WireguardKey {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The folder holding the key. */
export const wireguardKeyDir = (dataDir: string): string => join(dataDir, 'wireguard');

const cache = new Map<string, WireguardKey>();

/** A Curve25519 private key clamped as `wg genkey` prints it. */
export function newWireguardPrivateKey(): Uint8Array {
  const k = new Uint8Array(randomBytes(32));
  k[0] = (k[0] ?? 0) & 248;
  k[31] = ((k[31] ?? 0) & 127) | 64;
  return k;
}

/** `wg pubkey` of a private key. */
export function wireguardPublicKey(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

/** Read the listener's key, making it when missing; two processes starting at once end up with one key (hard links are atomic). */
export function ensureWireguardKey(dataDir: string): WireguardKey {
  const dir = wireguardKeyDir(dataDir);
  const path = join(dir, 'private.key');
  const known = cache.get(path);
  if (known) return known;
  ensurePrivateDir(dir);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, `${Buffer.from(newWireguardPrivateKey()).toString('base64')}\n`, { mode: PRIVATE_FILE });
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  const privateKey = new Uint8Array(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
  if (privateKey.length !== 32) throw new Error(`WireGuard key ${path} is not a base64 Curve25519 private key`);
  const key = { privateKey, publicKey: wireguardPublicKey(privateKey) };
  cache.set(path, key);
  return key;
}
