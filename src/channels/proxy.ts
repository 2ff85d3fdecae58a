import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import { normalizeIp } from '../net.ts';

export type TrustFn = (addr: string, hop: number) => boolean;

/**
 * TRUST_PROXY: `false` (default: believe only the socket), `true` (believe every hop; only
 * behind a proxy that overwrites X-Forwarded-For), a hop count such as `1`, or a comma list of
 * proxy addresses/CIDRs and the names `loopback`, `linklocal`, `uniquelocal`.
 */
export function compileTrust(setting: string): TrustFn {
  const v = setting.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return () => false;
  if (v === 'true') return () => true;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    return (_addr, i) => i < hops;
  }
  return proxyAddr.compile(v.split(',').map((s) => s.trim()).filter(Boolean));
}

/** Throws with a readable message when TRUST_PROXY cannot be compiled (checked at boot). */
export function validateTrust(setting: string): string | null {
  try {
    compileTrust(setting);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The client address, walking X-Forwarded-For only through trusted proxies. */
export function clientIp(req: IncomingMessage, trust: TrustFn): string {
  try {
    return normalizeIp(proxyAddr(req, trust));
  } catch {
    return normalizeIp(req.socket.remoteAddress ?? '');
  }
}
