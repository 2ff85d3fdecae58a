import { z } from 'zod';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind, type HttpReply } from './kind.ts';
import { httpsTarget, newTokenPath, publicUrl } from './urls.ts';

/**
 * Like `redirect`, but the visitor first gets a blank page whose script posts what the
 * browser reveals (languages, screen, time zone, platform, WebGL renderer) back to the same
 * URL (answered 200, empty), then forwards to the target (at once without JavaScript, after 1.5 s at the latest).
 * The visit and the posted facts are two hits; the second carries `details.browser`.
 */

const params = z.object({
  target: httpsTarget.describe('Where the visitor is sent after the browser facts are posted (https only)'),
});

type SlowRedirectParams = z.infer<typeof params>;

const MAX_FACT = 200;

/** The browser facts a posted body may carry, each clipped; anything else is dropped. */
export function browserFacts(body: Buffer): Record<string, unknown> | null {
  if (body.length === 0 || body.length > 4096) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v.slice(0, MAX_FACT) : null);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null);
  const facts = {
    languages: Array.isArray(r.languages) ? r.languages.slice(0, 10).map(str).filter((v): v is string => v !== null) : [],
    timeZone: str(r.timeZone),
    platform: str(r.platform),
    screen: r.screen && typeof r.screen === 'object' ? { width: num((r.screen as Record<string, unknown>).width), height: num((r.screen as Record<string, unknown>).height), colorDepth: num((r.screen as Record<string, unknown>).colorDepth) } : null,
    webglVendor: str(r.webglVendor),
    webglRenderer: str(r.webglRenderer),
    cores: num(r.cores),
  };
  return facts;
}

const jsString = (v: string): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028|\u2029/g, '');
const attr = (v: string): string => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function interstitial(target: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title></title>
<noscript><meta http-equiv="refresh" content="0;url=${attr(target)}"></noscript>
<script>
(function () {
  var to = ${jsString(target)};
  var go = function () { location.replace(to); };
  var f = { languages: navigator.languages || [navigator.language], platform: navigator.platform, cores: navigator.hardwareConcurrency,
    screen: { width: screen.width, height: screen.height, colorDepth: screen.colorDepth } };
  try { f.timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
  try {
    var gl = document.createElement('canvas').getContext('webgl');
    var ext = gl && gl.getExtension('WEBGL_debug_renderer_info');
    if (ext) { f.webglVendor = gl.getParameter(ext.UNMASKED_VENDOR_WEBGL); f.webglRenderer = gl.getParameter(ext.UNMASKED_RENDERER_WEBGL); }
  } catch (e) {}
  setTimeout(go, 1500);
  try {
    fetch(location.href, { method: 'POST', body: JSON.stringify(f), keepalive: true, headers: { 'content-type': 'text/plain' } }).then(go, go);
  } catch (e) { go(); }
})();
</script></head><body></body></html>
`;
}

/** A link that records the visit and what the browser reveals, then forwards to a real page. */
export const slowRedirect = defineKind<SlowRedirectParams>({
  id: 'slow-redirect',
  label: 'Slow redirect URL',
  description: 'A unique URL whose page records what the browser reveals (languages, screen, time zone, platform, graphics) and then forwards to a real https page.',
  channels: ['http'],
  techniques: ['T1083', 'T1213'],
  params,
  example: { target: 'https://intranet.example.com/wiki/Finance' },
  create(ctx, id, p) {
    return { params: p, urlPath: newTokenPath(ctx.config, 'page') };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      hint: `Visitors land on ${token.params.target} after a moment. Use it in bookmarks, wiki pages or internal docs.`,
    };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    const b = hit.details?.browser as { timeZone?: string | null; languages?: string[]; webglRenderer?: string | null } | undefined;
    const facts = b ? ` (time zone ${b.timeZone ?? '?'}, languages ${(b.languages ?? []).join(', ') || '?'}${b.webglRenderer ? `, graphics ${b.webglRenderer}` : ''})` : '';
    return { action: b ? `the browser reported itself${facts}` : `followed the link in ${client}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    describe(req) {
      if (req.method !== 'POST') return {};
      const browser = browserFacts(req.body);
      return browser ? { details: { browser } } : {};
    },
    respond(req, token): HttpReply {
      if (req.method === 'POST') return { status: 200, headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' }, body: '' };
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: interstitial(token.params.target) };
    },
  },
});
