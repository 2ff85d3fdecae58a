import { createHash, randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/**
 * The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s, the parameters every authenticator
 * app supports) through the `otpauth` library, and single-use recovery codes kept only as
 * sha256 digests (they are 50 random bits each, so a fast hash is enough; their number keeps
 * guessing hopeless within the sign-in throttle).
 */

const PERIOD = 30;
/** Recovery codes made at enrolment (and when regenerated). */
export const RECOVERY_CODES = 10;

function totp(secret: string, label = 'admin'): TOTP {
  return new TOTP({ issuer: 'Honeytrail', label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });
}

/** A fresh 160-bit secret, base32 (what authenticator apps take when typed in by hand). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The `otpauth://` URI an authenticator app reads from the QR code. */
export function totpUri(secret: string, email: string, issuer: string): string {
  const t = totp(secret, email);
  t.issuer = issuer;
  return t.toString();
}

/** The QR code of the enrolment URI as inline SVG markup (no script, no data: URL: the CSP allows it). */
export async function totpQrSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/**
 * The time step of `code` if it is valid now (one step of clock drift either way), else null.
 * The caller stores the step so the same code is never accepted twice.
 */
export function totpStep(secret: string, code: string, now = Date.now()): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totp(secret).validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 1000 / PERIOD) + delta;
}

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** New recovery codes (`xxxxx-xxxxx`, 10 characters of a 31-letter alphabet) and their digests. */
export function newRecoveryCodes(): { codes: string[]; hashes: string[] } {
  const codes = Array.from({ length: RECOVERY_CODES }, () => {
    const s = Array.from({ length: 10 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return `${s.slice(0, 5)}-${s.slice(5)}`;
  });
  return { codes, hashes: codes.map(recoveryHash) };
}

/** Digest of a recovery code as typed (case, spaces and dashes do not matter). */
export function recoveryHash(code: string): string {
  return createHash('sha256').update(code.toLowerCase().replace(/[^a-z0-9]/g, '')).digest('hex');
}
