import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import ipaddr from 'ipaddr.js';
import type { Config } from '../config.ts';
import { cidrMatcher, embeddedIpv4, isCidr, normalizeIp } from '../net.ts';
import type { DeliveryResult } from './deliver.ts';
import { webhookBody, type WebhookFormat } from './webhook-formats.ts';
import type { AlertView } from './view.ts';

/** Webhook requests give up after this long (connect + response). */
export const WEBHOOK_TIMEOUT_MS = 5_000;
const FORMATS: readonly WebhookFormat[] = ['json', 'slack', 'teams', 'discord'];

/**
 * The format of a webhook target: `#format=slack|teams|discord|json` on the URL wins;
 * otherwise the host decides (hooks.slack.com, *.webhook.office.com / logic.azure.com,
 * discord.com/api/webhooks); anything else gets the generic signed JSON.
 */
export function webhookFormat(target: string): WebhookFormat {
  const url = new URL(target);
  const forced = /(?:^|&)format=([a-z]+)/.exec(url.hash.slice(1))?.[1] as WebhookFormat | undefined;
  if (forced && FORMATS.includes(forced)) return forced;
  const host = url.hostname.toLowerCase();
  if (host === 'hooks.slack.com' || host.endsWith('.slack.com')) return 'slack';
  if (host.endsWith('.webhook.office.com') || host === 'outlook.office.com' || host.endsWith('.logic.azure.com') || host.endsWith('.powerplatform.com')) return 'teams';
  if ((host === 'discord.com' || host === 'discordapp.com' || host.endsWith('.discord.com')) && url.pathname.startsWith('/api/webhooks')) return 'discord';
  return 'json';
}

/**
 * Is this address one a webhook may not reach by default (loopback, private, link-local, …)?
 * An IPv6 address that embeds IPv4 addresses (compatible, mapped, 6to4, NAT64, Teredo) is
 * judged by them: `::a00:1` is 10.0.0.1, not a public IPv6 host.
 */
export function isPrivateAddress(ip: string): boolean {
  const n = normalizeIp(ip);
  if (!ipaddr.isValid(n)) return true;
  const addr = ipaddr.parse(n);
  if (addr.kind() === 'ipv6') {
    const inner = embeddedIpv4(addr as ipaddr.IPv6);
    if (inner === null) return true;
    if (inner.length > 0) return inner.some((v4) => v4.range() !== 'unicast');
  }
  return addr.range() !== 'unicast';
}

/**
 * SSRF guard: resolve the host once and refuse private, loopback, link-local and other
 * non-public addresses unless the address, a CIDR containing it, or the host name is listed
 * in WEBHOOK_ALLOW_PRIVATE. The request then connects to the vetted address (no second
 * lookup that DNS rebinding could change).
 */
export async function vetTarget(url: URL, allowPrivate: readonly string[]): Promise<{ ok: true; address: string; family: number } | { ok: false; error: string }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addrs: { address: string; family: number }[];
  try {
    addrs = ipaddr.isValid(host) ? [{ address: host, family: host.includes(':') ? 6 : 4 }] : await lookup(host, { all: true });
  } catch (err) {
    return { ok: false, error: `cannot resolve ${host}: ${(err as Error).message}` };
  }
  if (addrs.length === 0) return { ok: false, error: `cannot resolve ${host}` };
  const hostAllowed = allowPrivate.some((a) => !isCidr(a) && a.toLowerCase() === host.toLowerCase());
  const allowedNet = cidrMatcher(allowPrivate.filter(isCidr));
  for (const a of addrs) {
    if (isPrivateAddress(a.address) && !hostAllowed && !allowedNet(a.address)) {
      return { ok: false, error: `refused: ${host} resolves to non-public address ${a.address} (list it in WEBHOOK_ALLOW_PRIVATE to allow)` };
    }
  }
  const first = addrs[0] as { address: string; family: number };
  return { ok: true, address: first.address, family: first.family };
}

/** Sign a body: `sha256=<hex HMAC-SHA256 of the exact body bytes>` keyed with WEBHOOK_SECRET. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** POST the alert to one webhook: SSRF-checked, 5 s timeout, redirects not followed (a 3xx is a failure). */
export async function sendWebhook(
  config: Pick<Config, 'WEBHOOK_SECRET' | 'WEBHOOK_ALLOW_PRIVATE'>,
  target: string,
  view: AlertView,
  deliveryId: string,
): Promise<DeliveryResult> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { ok: false, error: 'not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, error: 'only http(s) webhooks are supported' };
  const format = webhookFormat(target);
  const vetted = await vetTarget(url, config.WEBHOOK_ALLOW_PRIVATE);
  if (!vetted.ok) return { ok: false, error: vetted.error };
  const body = JSON.stringify(webhookBody(format, view, deliveryId));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    'User-Agent': 'Honeytrail-Webhook/1',
    'X-Honeytrail-Delivery': deliveryId,
    'X-Honeytrail-Event': view.kind === 'test' ? 'alert.test' : `alert.${view.kind}`,
  };
  if (config.WEBHOOK_SECRET) headers['X-Honeytrail-Signature'] = signBody(body, config.WEBHOOK_SECRET);
  const mod = url.protocol === 'https:' ? https : http;
  url.hash = '';
  return new Promise<DeliveryResult>((resolvePromise) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers,
        timeout: WEBHOOK_TIMEOUT_MS,
        lookup: (_h: string, _o: unknown, cb: (e: Error | null, a: string | { address: string; family: number }[], f?: number) => void) =>
          (_o as { all?: boolean })?.all ? cb(null, [{ address: vetted.address, family: vetted.family }]) : cb(null, vetted.address, vetted.family),
      },
      (res) => {
        const code = res.statusCode ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 500) text += d;
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (code >= 200 && code < 300) resolvePromise({ ok: true, status: String(code) });
          else resolvePromise({ ok: false, status: String(code), error: code >= 300 && code < 400 ? `redirect to ${res.headers.location ?? '?'} not followed` : `HTTP ${code}: ${text.slice(0, 200)}` });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${WEBHOOK_TIMEOUT_MS} ms`)), WEBHOOK_TIMEOUT_MS);
    req.on('timeout', () => req.destroy(new Error(`timed out after ${WEBHOOK_TIMEOUT_MS} ms`)));
    req.on('error', (err) => {
      clearTimeout(timer);
      resolvePromise({ ok: false, error: err.message });
    });
    req.end(body);
  });
}
