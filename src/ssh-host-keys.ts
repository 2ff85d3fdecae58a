import { createHash, createHmac, generateKeyPair, randomBytes, randomInt } from 'node:crypto';
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { ensurePrivateDir, PRIVATE_FILE } from './files.ts';

/**
 * The SSH listener's host keys, made at first start like a fresh Debian install makes
 * /etc/ssh/ssh_host_*_key, and kept in `<DATA_DIR>/ssh/` so restarts present the same keys and
 * planted known_hosts lines stay valid. The admin process reads the same files to write
 * known_hosts: processes on different machines must share this folder (or copy it).
 */

/** In the order OpenSSH 9.2 offers them; the RSA key takes seconds to make, so it is made in the background. */
const TYPES = [
  { file: 'ssh_host_rsa_key', gen: 'rsa' },
  { file: 'ssh_host_ecdsa_key', gen: 'ecdsa' },
  { file: 'ssh_host_ed25519_key', gen: 'ed25519' },
] as const;
const making = new Map<string, Promise<void>>();

export interface HostKey {
  /** Key type as OpenSSH names it (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`). */
  type: string;
  /** OpenSSH private key text, for the server. */
  privateKey: string;
  /** Public key blob (base64 in known_hosts). */
  publicBlob: Buffer;
}

/** The folder holding the host keys. */
export const hostKeyDir = (dataDir: string): string => join(dataDir, 'ssh');

/**
 * Read the host keys, making any that are missing. The ECDSA and Ed25519 keys are made at once
 * (milliseconds); a missing RSA key is made in the background and served from the next start,
 * so a first start is not held up. Two processes starting at once end up with one set (hard
 * links are atomic).
 */
export function ensureHostKeys(dataDir: string, onError: (err: unknown) => void = () => undefined): HostKey[] {
  const dir = hostKeyDir(dataDir);
  ensurePrivateDir(dir);
  const keys: HostKey[] = [];
  for (const { file, gen } of TYPES) {
    const path = join(dir, file);
    if (!existsSync(path)) {
      if (gen === 'rsa') {
        if (!making.has(path)) making.set(path, makeRsaKey(path).catch(onError).finally(() => making.delete(path)));
        continue;
      }
      const pair = ssh2.utils.generateKeyPairSync(gen, { ...(gen === 'ecdsa' ? { bits: 256 } : {}), comment: `root@${hostNameGuess()}` });
      install(path, pair.private, pair.public);
    }
    keys.push(readHostKey(path));
  }
  return keys;
}

function makeRsaKey(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 3072, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } }, (err, _pub, priv) => {
      if (err) return reject(err);
      try {
        const parsed = ssh2.utils.parseKey(priv);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        if (!key || key instanceof Error) throw new Error('generated RSA host key could not be read back');
        install(path, priv, `ssh-rsa ${key.getPublicSSH().toString('base64')} root@${hostNameGuess()}`);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
}

function install(path: string, privateKey: string, publicLine: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, privateKey, { mode: PRIVATE_FILE });
  try {
    linkSync(tmp, path);
    writeFileSync(`${path}.pub`, `${publicLine}\n`, { mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function readHostKey(path: string): HostKey {
  const privateKey = readFileSync(path, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`SSH host key ${path} is not a usable private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error(`SSH host key ${path} holds no key`);
  return { type: key.type, privateKey, publicBlob: key.getPublicSSH() };
}

/** `SHA256:…` as `ssh-keygen -l` prints it for a public key blob. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The host as known_hosts names it: bare on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** One known_hosts line per host key; hashed (`|1|salt|hmac`) as Debian's HashKnownHosts yes writes them. */
export function knownHostsLines(keys: readonly HostKey[], host: string, port: number, hashed: boolean): string[] {
  const name = knownHostsName(host, port);
  return keys.map((k) => {
    const blob = k.publicBlob.toString('base64');
    if (!hashed) return `${name} ${k.type} ${blob}`;
    const salt = randomBytes(20);
    const mac = createHmac('sha1', salt).update(name).digest('base64');
    return `|1|${salt.toString('base64')}|${mac} ${k.type} ${blob}`;
  });
}

const HOST_NAMES = ['debian', 'bastion', 'srv01', 'jump01'];
function hostNameGuess(): string {
  return HOST_NAMES[randomInt(HOST_NAMES.length)] ?? 'debian';
}
