import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Config } from '../config.ts';
import { AWS_KEY_ALPHABET } from './secrets.ts';

/**
 * One organisation per deployment: every decoy on a share names the same company (documents'
 * properties and text, staff mail domains, the AWS account its keys belong to), so no outlier
 * hunt across decoys finds six firms' salary sheets. `DECOY_ORGANISATION` names it; without it a
 * company is chosen once per deployment from its DNS zone (stable across restarts, different
 * between deployments). A token's own `company` param overrides it for that decoy.
 */

const COMPANIES = [
  'Northwind Logistics', 'Halden & Partners', 'Brightwater Holdings', 'Meridian Systems', 'Alder Street Capital', 'Corvel Manufacturing',
  'Eastgate Health', 'Sable Ridge Energy', 'Larkspur Retail Group', 'Quayside Insurance', 'Tessaro Engineering', 'Blackmoor Foods',
] as const;

type OrgConfig = Pick<Config, 'DECOY_ORGANISATION' | 'DNS_ZONE'>;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The deployment's organisation name. */
export function organisationName(config: OrgConfig): string {
  if (config.DECOY_ORGANISATION) return config.DECOY_ORGANISATION;
  return COMPANIES[digest(`org\0${config.DNS_ZONE}`).readUInt32BE(0) % COMPANIES.length] ?? 'Northwind Logistics';
}

/** The organisation's internal mail domain as its staff addresses show it (`northwind.local`). */
export function organisationDomain(name: string): string {
  const slug = name.toLowerCase().replace(/&/g, ' ').split(/[^a-z0-9]+/).filter(Boolean)[0] ?? 'corp';
  return `${slug}.local`;
}

/**
 * The organisation's AWS account: a 12-digit id derived from its name, so every key a deployment
 * plants decodes to the same, plausible account (ids of real accounts spread over 0-999,999,999,999).
 */
export function awsAccountId(name: string): string {
  const n = digest(`aws\0${name}`).readBigUInt64BE(0) % 900_000_000_000n;
  return String(100_000_000_000n + n);
}

/**
 * An access key id of `account` in the layout AWS uses (and the public decoders read): after
 * `AKIA`, 10 bytes in base32 whose first 48 bits hold a marker bit, the account id shifted left by
 * 7 and 7 random bits, then 32 random bits. The fifth character is therefore one of Q-Z, 2-6 as in
 * keys AWS issues today.
 */
export function awsKeyIdFor(account: string): string {
  const head = (1n << 47n) | (BigInt(account) << 7n) | BigInt(randomInt(128));
  const bytes = Buffer.concat([Buffer.from(head.toString(16).padStart(12, '0'), 'hex'), randomBytes(4)]);
  return `AKIA${base32(bytes)}`;
}

/** The account an access key id decodes to (the public decoding: bits 1-40 of the first 6 bytes after the prefix). */
export function awsAccountOf(keyId: string): string {
  const bytes = unbase32(keyId.slice(4));
  const head = BigInt(`0x${bytes.subarray(0, 6).toString('hex')}`);
  return String((head & 0x7fffffffff80n) >> 7n).padStart(12, '0');
}

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += AWS_KEY_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

function unbase32(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    value = ((value << 5) | AWS_KEY_ALPHABET.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
