import http from 'node:http';
import https from 'node:https';
import { vetTarget } from '../alerts/webhook.ts';

/**
 * Outbound GETs for threat-intel feeds, with the webhook SSRF guard: the host is resolved once,
 * non-public addresses are refused unless INTEL_FEED_ALLOW_PRIVATE lists them, the request
 * connects to the vetted address, redirects are not followed, and time and size are bounded.
 */

export const FEED_TIMEOUT_MS = 20_000;
export const FEED_MAX_BYTES = 32 * 1024 * 1024;

export interface FetchedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export async function feedGet(target: string, headers: Record<string, string>, allowPrivate: readonly string[]): Promise<FetchedResponse> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`only http(s) feeds are supported: ${url.protocol}`);
  const vetted = await vetTarget(url, allowPrivate);
  if (!vetted.ok) throw new Error(vetted.error.replace('WEBHOOK_ALLOW_PRIVATE', 'INTEL_FEED_ALLOW_PRIVATE'));
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<FetchedResponse>((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'GET',
        headers: { 'User-Agent': 'Honeytrail-Intel/1', ...headers },
        timeout: FEED_TIMEOUT_MS,
        lookup: (_h: string, o: unknown, cb: (e: Error | null, a: string | { address: string; family: number }[], f?: number) => void) =>
          (o as { all?: boolean })?.all ? cb(null, [{ address: vetted.address, family: vetted.family }]) : cb(null, vetted.address, vetted.family),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > FEED_MAX_BYTES) req.destroy(new Error(`response larger than ${FEED_MAX_BYTES} bytes`));
          else chunks.push(d);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400) reject(new Error(`redirect to ${res.headers.location ?? '?'} not followed`));
          else resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${FEED_TIMEOUT_MS} ms`)), FEED_TIMEOUT_MS);
    req.on('timeout', () => req.destroy(new Error(`timed out after ${FEED_TIMEOUT_MS} ms`)));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** GET and parse JSON; a non-2xx answer or a body that is not JSON is an error naming the URL. */
export async function feedJson<T>(target: string, headers: Record<string, string>, allowPrivate: readonly string[]): Promise<{ body: T; headers: http.IncomingHttpHeaders }> {
  const res = await feedGet(target, headers, allowPrivate);
  if (res.status < 200 || res.status >= 300) throw new Error(`GET ${target}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
  try {
    return { body: JSON.parse(res.body) as T, headers: res.headers };
  } catch {
    throw new Error(`GET ${target}: the answer is not JSON`);
  }
}
