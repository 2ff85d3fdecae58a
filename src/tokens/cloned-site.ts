import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { staticAnswer } from '../channels/site.ts';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type HitFacts, type HttpRequestInfo, type Token } from './kind.ts';
import { newTokenPath, publicUrl } from './urls.ts';

/**
 * A snippet for the team's real login pages that reports a copy of the page served from any
 * other origin (a phishing clone), with the origin and the visitor.
 *
 * - Script (the artifact): compares `location` with the expected origins and, only when it is
 *   foreign, loads the token URL as an image carrying the foreign origin and path in a query
 *   parameter. The real page never requests anything.
 * - Style (`?format=css`): a `background-image` in a `<style>` element; works without script.
 *   CSS cannot read the page's address, so the listener reads the Referer. A Referer is written
 *   by the client: a foreign one is taken as the clone's address, but a missing or
 *   own-looking one never makes the load harmless (see `verdictOf`). The real page is expected to
 *   block the image with its Content-Security-Policy header (a header, which cloners do not copy
 *   and phishing proxies strip), so a load from it is itself news.
 *
 * The URL is an ordinary asset address (addresses.ts): no id-shaped segment, and a query name
 * chosen per token from common ones.
 */

/** An expected place: an origin (scheme, host, port) or a host name (any scheme and port). */
const originEntry = z
  .string()
  .trim()
  .toLowerCase()
  .max(300, 'must be at most 300 characters')
  .transform((v, ctx) => {
    if (/^https?:\/\//.test(v)) {
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://login.corp.example or a host name' });
        return z.NEVER;
      }
      if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
        ctx.addIssue({ code: 'custom', message: 'must be an origin (scheme, host and port) without a path, query or user name' });
        return z.NEVER;
      }
      return u.origin;
    }
    if (!/^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*\.?$/.test(v) || v.length > 253) {
      ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://login.corp.example or a host name such as login.corp.example' });
      return z.NEVER;
    }
    return v.replace(/\.$/, '');
  });

const params = z.object({
  origins: z
    .array(originEntry)
    .min(1, 'name at least one origin or host name your login page is served from')
    .max(20, 'at most 20 entries')
    .describe('Where your real login page is served from: origins (https://login.corp.example) or host names (login.corp.example, any scheme and port), one per line'),
});

type ClonedSiteParams = z.infer<typeof params> & { _q?: string };

/** Query names the script reports the page under: common ones of asset and analytics URLs (none a secret's name, see redact.ts). */
const QUERY_NAMES = ['ref', 'src', 'u', 'r', 'from', 'loc', 'page', 'dl', 'origin', 'site'] as const;

/** Longest Referer or reported value read (longer ones are clipped before parsing). */
const MAX_READ = 1024;
/** Longest origin and path kept with a hit. */
const MAX_ORIGIN = 200;
const MAX_PATH = 300;

/** Is `origin` (`https://host:port`) one of the expected places? */
export function isExpected(expected: readonly string[], origin: string): boolean {
  let host: string;
  try {
    host = new URL(origin).hostname;
  } catch {
    return false;
  }
  return expected.some((e) => (e.includes('://') ? e === origin : e === host));
}

/** Printable, bounded text of an attacker-written value. */
function clean(v: string, max: number): string {
  return v.slice(0, max).replace(/[\x00-\x1f\x7f\s]+/g, ' ').trim();
}

/** Origin and path of a URL-ish value the client sent; null when it is not an http(s) or file URL. */
function place(value: string): { origin: string; path: string } | null {
  let u: URL;
  try {
    u = new URL(value.slice(0, MAX_READ));
  } catch {
    return null;
  }
  if (u.protocol === 'file:') return { origin: 'file://', path: clean(u.pathname, MAX_PATH) };
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return { origin: clean(u.origin, MAX_ORIGIN), path: clean(u.pathname, MAX_PATH) };
}

/**
 * Which way a load points:
 * - `foreign`: the page is elsewhere (reported by the script, or a Referer naming another origin);
 * - `own-origin`: the script's report or the Referer names an expected origin. The script never
 *   reports from an expected origin, and the real page blocks the image by its CSP; so it is a
 *   hand-made request, a page missing that header, or an out-of-date list of origins. Alerted;
 * - `no-referer`: a style load that says nothing of its page. Clones can hide it (a no-referrer
 *   policy), so can privacy tools and hand-made requests. Alerted;
 * - `unreadable`: a Referer or report that is no URL. Alerted.
 * None of these lowers the hit: every one is left to the classifier (ignore lists, scanner
 * networks, expected-activity rules), which an attacker's header cannot steer.
 */
export type Verdict = 'foreign' | 'own-origin' | 'no-referer' | 'unreadable';

function verdictOf(req: HttpRequestInfo, token: Token<ClonedSiteParams>): Record<string, unknown> {
  const name = token.params._q ?? 'ref';
  const reported = req.query.get(name);
  const refererRaw = req.headers.referer;
  const referer = typeof refererRaw === 'string' && refererRaw ? place(refererRaw) : null;
  const via = reported !== null ? 'script' : 'style';
  const seen = reported !== null ? place(reported) : referer;
  let verdict: Verdict;
  if (reported === null && !refererRaw) verdict = 'no-referer';
  else if (!seen) verdict = 'unreadable';
  else verdict = seen.origin !== 'file://' && isExpected(token.params.origins, seen.origin) ? 'own-origin' : 'foreign';
  return {
    via,
    verdict,
    ...(seen ? { origin: seen.origin, page: seen.path } : {}),
    ...(reported !== null && !seen ? { reported: clean(reported, MAX_ORIGIN) } : {}),
    ...(referer ? { refererOrigin: referer.origin } : typeof refererRaw === 'string' && refererRaw ? { referer: clean(refererRaw, MAX_ORIGIN) } : {}),
  };
}

const jsString = (v: string): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028|\u2029/g, '');

/** The script: silent on the expected origins, else one image load naming the page. */
export function scriptSnippet(url: string, expected: readonly string[], queryName: string): string {
  const sep = url.includes('?') ? '&' : '?';
  return `<script>
(function (l) {
  var k = ${JSON.stringify(expected).replace(/</g, '\\u003c')}, o = (l.origin && l.origin !== "null" ? l.origin : l.protocol + "//" + l.host).toLowerCase(), h = l.hostname.toLowerCase();
  for (var i = 0; i < k.length; i++) if (k[i] === o || k[i] === h) return;
  new Image().src = ${jsString(`${url}${sep}${queryName}=`)} + encodeURIComponent((o + l.pathname).slice(0, 300));
})(location);
</script>
`;
}

/** The style: an invisible one-pixel box whose background is the token URL. */
export function styleSnippet(url: string): string {
  return `<style>
body::after { content: ""; position: absolute; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; pointer-events: none; background: url("${url.replace(/["\\<>\s]/g, encodeURIComponent)}") no-repeat; }
</style>
`;
}

/** A login-page snippet that reports copies of the page served from other origins (phishing clones). */
export const clonedSite = defineKind<ClonedSiteParams>({
  id: 'cloned-site',
  label: 'Cloned login page',
  description: 'A script (or a CSS-only style) for your real login pages: when a copy of the page is served from any other origin, such as a phishing clone, it reports that origin and the visitor.',
  channels: ['http'],
  techniques: ['T1566.002', 'T1598.003', 'T1583.001'],
  params,
  example: { origins: ['https://login.corp.example', 'sso.corp.example'] },
  formats: ['css'],
  create(ctx, _id, p) {
    return { params: { ...p, _q: QUERY_NAMES[randomInt(QUERY_NAMES.length)] }, urlPath: newTokenPath(ctx.config, 'image') };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: 'login-snippet.html',
      contentType: 'text/html; charset=utf-8',
      hint:
        'Paste the script into your login page (inline or in one of its script files). ' +
        'Without script, put the CSS format in a <style> element of the page itself (from a stylesheet file the Referer would name your server), and send your real page with a Content-Security-Policy header whose img-src leaves out the token host: ' +
        'your page then never loads the image, a copy of it (cloners keep no headers, phishing proxies strip them) does. Serve PUBLIC_URL over https, or browsers drop the Referer the CSS format reads.',
    };
  },
  render(ctx, token, format) {
    const url = publicUrl(ctx.config, token.urlPath ?? '/');
    const body = format === 'css' ? styleSnippet(url) : scriptSnippet(url, token.params.origins, token.params._q ?? 'ref');
    return { filename: format === 'css' ? 'login-style.html' : 'login-snippet.html', contentType: 'text/html; charset=utf-8', body: Buffer.from(body) };
  },
  explain(hit) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    const visitor = `${client}${hit.sourceIp ? ` at ${hit.sourceIp}` : ''}`;
    const origin = detail(hit.details, 'origin');
    const page = detail(hit.details, 'page');
    const via = detail(hit.details, 'via') === 'script' ? 'the login-page script' : 'the login-page style';
    const where = origin ? `${origin}${page && page !== '/' ? page : ''}` : null;
    const techniques = ['T1566.002', 'T1598.003'];
    switch (detail(hit.details, 'verdict')) {
      case 'foreign':
        return { action: `Your login page was served from ${where ?? 'another origin'} (a clone) to ${visitor}; ${via} reported it`, evidence: 'touch', techniques: [...techniques, 'T1583.001'] };
      case 'own-origin':
        return {
          action: `${via[0]?.toUpperCase()}${via.slice(1)} was loaded by ${visitor} naming your own ${origin ?? 'origin'}: your real page never does that (the script is silent there, the style is blocked by its Content-Security-Policy), so this is a hand-made request, a page without that header, or an origin missing from the token's list; alerted, not taken as harmless`,
          evidence: 'touch',
          techniques,
        };
      case 'no-referer':
        return {
          action: `The login-page style was loaded by ${visitor} without a Referer: a copy of the page that hides its address (a clone can, with a no-referrer policy), a privacy tool, or a hand-made request; the origin is unknown, and it is alerted, not taken as harmless`,
          evidence: 'touch',
          techniques,
        };
      default:
        return { action: `The login-page snippet's address was requested by ${visitor} with a page address that is no URL; alerted, not taken as harmless`, evidence: 'touch', techniques };
    }
  },
  http: {
    describe(req, token): HitFacts {
      return { details: verdictOf(req, token) };
    },
    respond(req) {
      return staticAnswer(req.path, req.headers.accept);
    },
  },
});
