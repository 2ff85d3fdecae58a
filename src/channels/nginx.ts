import type { IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { HttpReply } from '../tokens/kind.ts';
import { site, siteAnswer } from './site.ts';

/**
 * What a stock nginx (Debian's default site: `try_files $uri $uri/ =404`, `server_tokens off`,
 * `gzip on`) does with a request before and around a file: which requests it refuses and how,
 * and how it frames a response (status texts, header names, case and order, keep-alive). The
 * public listener follows this so that, byte for byte, it answers like one
 * (tests/channels/nginx-differential.test.ts compares it with a real nginx; docs/stealth.md).
 */

/** nginx's limits: one header line must fit a large_client_header_buffers buffer (8k), a body client_max_body_size (1m). */
export const NGINX_LIMITS = { headerLine: 8192, maxBody: 1024 * 1024 } as const;

/** Reason phrases nginx writes (some differ from node's: 302, 405, 413, 414, 416, 503). */
const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Not Allowed', 408: 'Request Time-out', 409: 'Conflict',
  411: 'Length Required', 413: 'Request Entity Too Large', 414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** Statuses after which nginx closes the connection whatever the client asked. */
const CLOSING = new Set([400, 413, 414, 500, 501]);

/** Whether nginx keeps this connection open after answering `status` (HTTP/1.0 only with keep-alive asked for). */
export function keepsAlive(req: Pick<IncomingMessage, 'httpVersion' | 'headers' | 'method'>, status: number): boolean {
  if (CLOSING.has(status) || req.method === 'TRACE') return false;
  const conn = String(req.headers.connection ?? '').toLowerCase();
  if (req.httpVersion === '1.0') return conn.includes('keep-alive');
  return !conn.includes('close');
}

/** Header names in the case nginx (or a typical upstream behind it) writes them. */
const SPECIAL_CASE: Record<string, string> = {
  etag: 'ETag', 'www-authenticate': 'WWW-Authenticate', 'x-xss-protection': 'X-XSS-Protection', 'content-md5': 'Content-MD5',
  // Apache mod_dav_svn behind nginx (the svn kind): nginx passes the upstream's names as written.
  dav: 'DAV', 'ms-author-via': 'MS-Author-Via', 'svn-repository-uuid': 'SVN-Repository-UUID', 'svn-repository-mergeinfo': 'SVN-Repository-MergeInfo',
  'svn-vtxn-root-stub': 'SVN-VTxn-Root-Stub', 'svn-vtxn-stub': 'SVN-VTxn-Stub',
};

export function headerCase(name: string): string {
  const lower = name.toLowerCase();
  const known = SPECIAL_CASE[lower];
  if (known) return known;
  const cased = lower.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
  return lower.startsWith('svn-') ? `SVN${cased.slice(3)}` : cased;
}

/**
 * nginx's answer to a request it refuses before looking for a file, or null. `rawHeaders` is
 * node's list (name, value, …) as received.
 */
export function refusal(req: Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'>): HttpReply | null {
  const url = req.url ?? '/';
  if (`${req.method ?? ''} ${url} HTTP/${req.httpVersion}\r\n`.length > NGINX_LIMITS.headerLine) return site.uriTooLong();
  const raw = req.rawHeaders;
  let hosts = 0;
  let host = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    if (name.length + value.length + 4 > NGINX_LIMITS.headerLine) return site.headerTooLarge();
    if (name.toLowerCase() === 'host') {
      hosts++;
      host = value;
    }
  }
  if (hosts > 1 || (hosts === 0 && req.httpVersion === '1.1') || (hosts === 1 && !validHost(host))) return site.badRequest();
  if (req.method === 'TRACE') return site.notAllowed();
  if (!url.startsWith('/') && !/^https?:\/\/[^/?#]+(\/|$)/i.test(url)) return site.badRequest();
  if (normalPath(url) === null) return site.badRequest();
  return null;
}

/**
 * nginx's answer to bytes node's parser gave up on (`code` is node's parser error): the page
 * alone for an HTTP/0.9 request, 414 or the header-too-large 400 for an overflow, 404 or 405 for
 * a method node does not know, 400 for the rest. `bodyOnly` for HTTP/0.9 (no status line).
 */
export function parseFailure(code: string | undefined, raw: Buffer | undefined): { reply: HttpReply; method: string; bodyOnly: boolean } {
  const head = (raw ?? Buffer.alloc(0)).subarray(0, NGINX_LIMITS.headerLine * 2).toString('latin1');
  const simple = /^GET (\/[^\s]*)\r?\n/.exec(head);
  if (simple) {
    const path = normalPath(simple[1] ?? '/');
    return { reply: path === null ? site.badRequest() : siteAnswer('GET', path), method: 'GET', bodyOnly: true };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    const lineEnd = head.indexOf('\n');
    return { reply: lineEnd === -1 || lineEnd > NGINX_LIMITS.headerLine ? site.uriTooLong() : site.headerTooLarge(), method: 'GET', bodyOnly: false };
  }
  const line = /^([A-Z_-]{1,32}) (\S+) HTTP\/1\.[01]\r?\n/.exec(head);
  if (code === 'HPE_INVALID_METHOD' && line) {
    const path = normalPath(line[2] ?? '/');
    return { reply: path === null ? site.badRequest() : siteAnswer(line[1] ?? 'GET', path), method: line[1] ?? 'GET', bodyOnly: false };
  }
  return { reply: site.badRequest(), method: 'GET', bodyOnly: false };
}

/** nginx's host check: no slash or backslash, no `..`, not starting with a dot, not empty once a trailing dot is dropped. */
function validHost(host: string): boolean {
  const name = host.replace(/:\d*$/, '');
  return !/[/\\\0]/.test(name) && !name.includes('..') && !name.startsWith('.') && name.replace(/\.$/, '') !== '';
}

/**
 * The path nginx serves for a request target: percent-decoded, slashes merged, `.` and `..`
 * resolved; null where nginx answers 400 (a bad escape, a NUL, `..` above the root).
 */
export function normalPath(target: string): string | null {
  let path = target.replace(/^https?:\/\/[^/?#]+/i, '');
  const q = path.search(/[?#]/);
  if (q !== -1) path = path.slice(0, q);
  if (path === '') path = '/';
  if (/%(?![0-9a-f]{2})/i.test(path)) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.replace(/%(?![0-9a-f]{2})/gi, ''));
  } catch {
    // Bytes that are not UTF-8 are still a path to nginx; keep them encoded.
    decoded = path;
  }
  if (decoded.includes('\0')) return null;
  const trailing = /\/\.{0,2}$/.test(decoded);
  const out: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}${trailing && out.length > 0 ? '/' : ''}`;
}

/** The request facts framing depends on. */
export type FramedRequest = Pick<IncomingMessage, 'method' | 'httpVersion' | 'headers'>;

/** A reply ready for the wire: nginx's status text and its headers in nginx's order and case. */
export interface Framed {
  status: number;
  reason: string;
  headers: [string, string][];
  /** What to send after the headers (none for HEAD and 304). */
  body: Buffer;
  close: boolean;
}

/** Headers nginx itself places, in its order; a reply's other headers follow them. */
const OWN = new Set(['server', 'date', 'content-type', 'content-length', 'last-modified', 'transfer-encoding', 'connection', 'etag', 'content-encoding', 'accept-ranges', 'content-range']);
/** Smallest body nginx's gzip filter compresses (gzip_min_length), and the statuses it compresses. */
const GZIP_MIN = 20;
const GZIP_STATUSES = new Set([200, 403, 404]);

/**
 * Frame `reply` as nginx would send it for `req`. Static-file replies (`modified` set) get the
 * static module's treatment: validators, 304 for a matching If-None-Match or If-Modified-Since,
 * a single byte range (206, or 416), 405 to other methods. HTML bodies are gzipped for HTTP/1.1
 * clients that accept it (`gzip on` with default types), chunked as nginx streams them.
 */
export function frame(req: FramedRequest, input: HttpReply, server: string): Framed {
  const method = req.method ?? 'GET';
  let reply = input;
  if (reply.modified && method !== 'GET' && method !== 'HEAD') reply = site.notAllowed();
  let status = reply.status;
  let body = reply.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body);
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.headers ?? {})) extra[k.toLowerCase()] = v;
  let lastModified: string | undefined;
  let etag: string | undefined;
  let contentRange: string | undefined;
  let acceptRanges = false;
  if (reply.modified && status === 200) {
    const seconds = Math.floor(reply.modified.getTime() / 1000);
    lastModified = new Date(seconds * 1000).toUTCString();
    etag = `"${seconds.toString(16)}-${body.length.toString(16)}"`;
    const inm = header(req, 'if-none-match');
    const ims = header(req, 'if-modified-since');
    if ((inm !== undefined && (inm === '*' || inm.split(/\s*,\s*/).some((t) => t.replace(/^W\//, '') === etag))) || (inm === undefined && ims === lastModified)) {
      status = 304;
      body = Buffer.alloc(0);
      delete extra['content-type'];
    } else {
      const range = header(req, 'range');
      const parsed = range === undefined ? null : byteRange(range, body.length);
      if (parsed === 'unsatisfiable') {
        return frame(req, site.rangeNotSatisfiable(body.length), server);
      }
      if (parsed) {
        status = 206;
        contentRange = `bytes ${parsed.start}-${parsed.end}/${body.length}`;
        body = body.subarray(parsed.start, parsed.end + 1);
      } else {
        acceptRanges = true;
      }
    }
  }
  const type = extra['content-type'];
  let gzipped = false;
  if (type?.startsWith('text/html') && GZIP_STATUSES.has(status) && req.httpVersion === '1.1' && body.length >= GZIP_MIN && method !== 'HEAD' && /\bgzip\b/i.test(header(req, 'accept-encoding') ?? '')) {
    body = gzipSync(body, { level: 1 });
    gzipped = true;
    acceptRanges = false;
    if (etag) etag = `W/${etag}`;
  }
  const close = !keepsAlive(req, status);
  const headers: [string, string][] = [['Server', server], ['Date', new Date().toUTCString()]];
  if (type !== undefined) headers.push(['Content-Type', type]);
  if (status !== 304 && !gzipped) headers.push(['Content-Length', String(body.length)]);
  if (lastModified) headers.push(['Last-Modified', lastModified]);
  if (gzipped) headers.push(['Transfer-Encoding', 'chunked']);
  headers.push(['Connection', close ? 'close' : 'keep-alive']);
  if (etag) headers.push(['ETag', etag]);
  if (gzipped) headers.push(['Content-Encoding', 'gzip']);
  if (acceptRanges) headers.push(['Accept-Ranges', 'bytes']);
  if (contentRange) headers.push(['Content-Range', contentRange]);
  if (extra['content-range']) headers.push(['Content-Range', extra['content-range']]);
  for (const [k, v] of Object.entries(extra)) if (!OWN.has(k)) headers.push([headerCase(k), v]);
  return { status, reason: reasonPhrase(status), headers, body: method === 'HEAD' || status === 304 ? Buffer.alloc(0) : body, close };
}

function header(req: FramedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** One `bytes=` range as nginx's range filter reads it; null to ignore the header (serve it all). */
export function byteRange(value: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  // `bytes= first - last`, each side digits or nothing, spaces around: split at the dash rather
  // than one pattern, whose two adjacent \s* runs backtrack quadratically over a run of spaces.
  if (value.slice(0, 6).toLowerCase() !== 'bytes=') return null;
  const dash = value.indexOf('-', 6);
  if (dash === -1) return null;
  const first = value.slice(6, dash).trim();
  const last = value.slice(dash + 1).trim();
  if (!/^\d*$/.test(first) || !/^\d*$/.test(last) || (first === '' && last === '')) return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return { start, end };
}

/** The head of a framed reply as bytes, for answers written straight to a socket. */
export function headBytes(f: Framed): string {
  return `HTTP/1.1 ${f.status} ${f.reason}\r\n${f.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
