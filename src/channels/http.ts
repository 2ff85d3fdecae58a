import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Config } from '../config.ts';
import type { AnyDb } from '../db/store.ts';
import { tokenLookups } from '../db/queries/tokens.ts';
import type { TokenRow } from '../db/schema.ts';
import type { StorageBudget } from '../hits/budget.ts';
import type { HitRecorder } from '../hits/record-hit.ts';
import type { Logger } from '../logger.ts';
import { idCandidates } from '../tokens/ids.ts';
import type { HttpReply, HttpRequestInfo, Token, TokenKind } from '../tokens/kind.ts';
import { findKind, httpLookupKinds } from '../tokens/registry.ts';
import { createRateLimiter } from './dns-guard.ts';
import { clientIp, compileTrust } from './proxy.ts';
import { redactHeader, redactQuery, redactUrl } from './redact.ts';
import { frame, headBytes, NGINX_LIMITS, normalPath, parseFailure, refusal } from './nginx.ts';
import { site, siteAnswer, staticAnswer } from './site.ts';

/** Size bounds of the attacker-facing HTTP listener. */
export const PUBLIC_LIMITS = {
  /** Largest request body read to find and describe a token (credential forms, API calls); a larger one is not read. */
  maxBody: 64 * 1024,
  /**
   * Largest header block node parses: nginx's four 8k large_client_header_buffers. A single
   * longer line is refused as nginx refuses it (nginx.ts).
   */
  maxHeaderBytes: 32 * 1024,
  /** Headers kept with a hit, and the longest value kept. */
  maxStoredHeaders: 40,
  maxStoredHeaderValue: 512,
} as const;

export interface PublicDeps {
  config: Config;
  db: AnyDb;
  log: Logger;
  recorder: HitRecorder;
  /** Where requests refused by PUBLIC_RATE_LIMIT are counted (metrics, dashboard). */
  budget?: StorageBudget;
}

/** Handles one request; `expectsContinue` when the client sent `Expect: 100-continue` and waits for it. */
type Handler = (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => void;

/**
 * The public listener's request handler: plain node:http, because it is the hot path and
 * must look like a stock nginx. It finds a token by its stored URL path (exactly, with a query
 * pair, or as the base of the request's path), by a credential kind's lookup key, or (tokens
 * made before stored paths) by an id in the URL; records the hit, and answers only after the
 * commit. Unknown, disabled and retired tokens answer like any missing file; no admin route exists.
 */
export function createPublicHandler(deps: PublicDeps): Handler {
  const { config, log, recorder } = deps;
  const lookups = tokenLookups(deps.db);
  const trust = compileTrust(config.TRUST_PROXY);
  const lookupKinds = httpLookupKinds();
  const serverHeader = config.PUBLIC_SERVER_HEADER;
  // Per source address, before anything costs CPU or storage: a flood from one source past
  // PUBLIC_RATE_LIMIT gets nginx's limit_req answer (503) and is counted, not recorded.
  const limiter = createRateLimiter({ perSecond: config.PUBLIC_RATE_LIMIT });
  let warnedAt = 0;
  const overRate = (sourceIp: string): boolean => {
    if (limiter.allow(sourceIp)) return false;
    const now = Date.now();
    if (deps.budget) {
      deps.budget.counts.rateLimited++;
      deps.budget.counts.lastAt = now;
    }
    if (now - warnedAt > 60_000) {
      warnedAt = now;
      log.warn({ event: 'http-rate-limited', sourceIp, limit: config.PUBLIC_RATE_LIMIT }, 'public listener: a source went over PUBLIC_RATE_LIMIT; its excess requests get 503 and are counted, not recorded');
    }
    return true;
  };

  const send = (req: IncomingMessage, res: ServerResponse, reply: HttpReply): void => {
    const f = frame(req, reply, serverHeader);
    res.sendDate = false;
    res.writeHead(f.status, f.reason, f.headers.flat());
    res.end(f.body.length > 0 ? f.body : undefined);
  };

  /** A token the request names by its address: stored path (exactly, with a query pair, or as its base), or an id in an old token's URL. */
  const byAddress = async (info: HttpRequestInfo): Promise<TokenRow | undefined> => {
    const { exact, parents } = pathCandidates(info.path, info.url);
    for (const path of exact) {
      const token = await lookups.byUrlPath(path);
      if (token) return token;
    }
    for (const path of parents) {
      const token = await lookups.byUrlPath(path);
      if (token && isBasePath(path)) return token;
    }
    // Tokens made before stored paths carried no id (their URLs hold the id as a segment or query value).
    for (const id of idCandidates(info.url)) {
      const token = await lookups.byId(id);
      if (token) return token;
    }
    return undefined;
  };

  /** A token a credential kind recognises in the request (a key id, a bearer token, a planted pair). */
  const byKey = async (info: HttpRequestInfo): Promise<TokenRow | undefined> => {
    for (const kind of lookupKinds) {
      const key = kind.http?.lookupKey?.(info);
      if (!key) continue;
      const token = await lookups.byLookupKey(key);
      if (token && token.kind === kind.id) return token;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> => {
    const sourceIp = clientIp(req, trust);
    if (overRate(sourceIp)) return send(req, res, site.unavailable());
    const refused = refusal(req);
    if (refused) return send(req, res, refused);
    const rawUrl = req.url ?? '/';
    let parsed: URL;
    try {
      parsed = new URL(rawUrl.replace(/^https?:\/\/[^/?#]+/i, '') || '/', 'http://localhost');
    } catch {
      return send(req, res, site.badRequest());
    }
    if (Number(req.headers['content-length'] ?? 0) > NGINX_LIMITS.maxBody) return send(req, res, site.tooLarge());
    const info: HttpRequestInfo = {
      method: req.method ?? 'GET',
      url: rawUrl,
      path: parsed.pathname,
      query: parsed.searchParams,
      headers: req.headers,
      body: Buffer.alloc(0),
      sourceIp,
    };
    let token = await byAddress(info);
    // Like nginx, say 100 Continue only where the body will be read: a request for a live token.
    if (!expectsContinue || (token && isLive(token))) {
      if (expectsContinue) res.writeContinue();
      const body = await readBody(req, PUBLIC_LIMITS.maxBody);
      if (body !== 'too-large') info.body = body;
    }
    token ??= await byKey(info);
    const kind = token ? findKind(token.kind) : undefined;
    if (!token || !kind || !isLive(token)) {
      // Unknown, disabled and retired tokens answer exactly like any other missing file.
      if (token) log.info({ event: 'unknown-token', path: clipLog(parsed.pathname), sourceIp, tokenId: token.id }, 'request for an inactive token');
      return send(req, res, siteAnswer(info.method, normalPath(rawUrl) ?? '/'));
    }

    const live = token as Token;
    const facts = kind.http?.describe?.(info, live);
    await recorder.record({
      token: live,
      channel: 'http',
      sourceIp,
      sourcePort: req.socket.remotePort ?? null,
      forwardedFor: headerValue(req.headers['x-forwarded-for']),
      userAgent: headerValue(req.headers['user-agent']),
      referer: redactedReferer(req.headers.referer, live.id),
      method: info.method,
      path: parsed.pathname,
      query: redactQuery(parsed.search, live.id),
      headers: storedHeaders(req, live.id),
      facts,
    });
    const reply = respond(kind, info, live);
    send(req, res, reply.modified ? { ...reply, modified: live.createdAt } : reply);
  };

  return (req, res, expectsContinue = false) => {
    handle(req, res, expectsContinue).catch((err: unknown) => {
      log.error({ err, path: clipLog(req.url ?? '') }, 'public listener failed to handle a request');
      if (!res.headersSent) send(req, res, site.serverError());
      else res.destroy();
    });
  };
}

/** The public HTTP server with its size and time bounds; what node's parser refuses is answered as nginx answers it. */
export function createPublicServer(deps: PublicDeps): Server {
  const handler = createPublicHandler(deps);
  const server = createServer(
    // Timeouts are enforced by a sweep every connectionsCheckingInterval (Node's default 30 s would let
    // a slow-loris client hold a socket up to 45 s instead of 15). A missing Host is nginx's 400, not node's.
    { maxHeaderSize: PUBLIC_LIMITS.maxHeaderBytes, requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000, requireHostHeader: false },
    (req, res) => handler(req, res),
  );
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handler(req, res, true));
  // nginx ignores expectations it does not know; node would answer 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => handler(req, res));
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    deps.log.debug({ code: err.code }, 'malformed request on public listener');
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const failure = parseFailure(err.code, err.rawPacket);
    const f = frame({ method: failure.method, httpVersion: '1.1', headers: {} }, failure.reply, deps.config.PUBLIC_SERVER_HEADER);
    socket.end(failure.bodyOnly ? f.body : Buffer.concat([Buffer.from(headBytes(f), 'latin1'), f.body]));
  });
  return server;
}

/** Most query pairs tried per request (each is one cached, indexed probe). */
const MAX_QUERY_PAIRS = 6;
/** Deepest base path a token is given (see addresses.ts and the credential kinds' routes). */
const MAX_BASE_DEPTH = 5;

/**
 * Stored paths a request can name: exactly its path, its path with one of its query pairs
 * (`/remote/login?realm=x`), or a parent of its path (an API base, a cluster URL) for requests
 * made under a base URL.
 */
export function pathCandidates(path: string, url: string): { exact: string[]; parents: string[] } {
  const exact = [path];
  const q = url.indexOf('?');
  if (q !== -1) {
    for (const pair of url.slice(q + 1).split('&').slice(0, MAX_QUERY_PAIRS)) if (pair.includes('=')) exact.push(`${path}?${pair}`);
  }
  // Base paths are at most MAX_BASE_DEPTH segments deep, so a deep request costs no more probes.
  const segments = path.split('/').filter(Boolean);
  const parents: string[] = [];
  for (let k = Math.min(segments.length - (path.endsWith('/') ? 0 : 1), MAX_BASE_DEPTH); k >= 1; k--) parents.push(`/${segments.slice(0, k).join('/')}`);
  return { exact, parents };
}

/** A stored path that is a base URL (its last segment names no file), so requests under it are the token's. */
function isBasePath(path: string): boolean {
  return !path.slice(path.lastIndexOf('/') + 1).includes('.');
}

function respond(kind: TokenKind, info: HttpRequestInfo, token: Token): HttpReply {
  return kind.http?.respond?.(info, token) ?? staticAnswer(info.path, info.headers.accept);
}

/** An enabled decoy fires; one past its expiry still does (it is due for rotation, not dead: see tokens/freshness.ts). */
function isLive(token: TokenRow): boolean {
  return token.enabled;
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function redactedReferer(v: string | undefined, salt: string): string | null {
  return v === undefined ? null : redactUrl(v, salt);
}

/**
 * Headers kept with the hit: bounded in count and size; secret-bearing ones (redact.ts) kept only
 * as length and digest salted with `salt` (the token id): never store a credential that is not ours.
 */
function storedHeaders(req: IncomingMessage, salt: string): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length && Object.keys(out).length < PUBLIC_LIMITS.maxStoredHeaders; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    let value = redactHeader(name, raw[i + 1] ?? '', salt);
    if (value.length > PUBLIC_LIMITS.maxStoredHeaderValue) value = `${value.slice(0, PUBLIC_LIMITS.maxStoredHeaderValue)}…`;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** Read at most `limit` bytes of body; report 'too-large' (and stop reading) beyond that. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve('too-large');
  if (!req.headers['content-length'] && !req.headers['transfer-encoding']) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

function clipLog(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
