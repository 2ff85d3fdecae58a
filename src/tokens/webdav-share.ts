import { createHash } from 'node:crypto';
import { z } from 'zod';
import { fillRoute } from './addresses.ts';
import { site } from '../channels/site.ts';
import type { Config } from '../config.ts';
import { excel } from './excel.ts';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type ArtifactFile, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token, type TokenKind } from './kind.ts';
import { personName, seeded } from './office.ts';
import { organisationName } from './organisation.ts';
import { imageReply } from './office-image.ts';
import { basicAuth, BASE62, choose, maskedPassword, randomString, secretTerm, sha256 } from './secrets.ts';
import { publicUrl } from './urls.ts';
import { handleDav, sharePath, type Share } from './webdav-dav.ts';
import { countWrite, sessionOf } from './webdav-session.ts';
import { fillerContent, SHARE_THEMES, shareName, type ShareTheme, type TreeNode } from './webdav-tree.ts';
import { word } from './word.ts';

/**
 * A decoy network share: WebDAV on the public listener at a per-token path with per-token Basic
 * credentials, mountable as a drive (Windows `net use`, davfs2, rclone, cadaver, Finder). Its
 * tree is generated from a theme (webdav-tree.ts); its Word and Excel files are beaconing decoy
 * documents whose beacon names the file (`\\share\path`), so following them is a breadcrumb
 * chain. Every request is a hit naming the operation and the path; writes go to the source's own
 * quarantine (webdav-session.ts); a burst of writes, moves and deletes is the ransomware canary.
 */

const FORMATS = ['bat', 'ps1', 'url', 'txt'] as const;
type Format = (typeof FORMATS)[number];
const WRITES = new Set(['PUT', 'DELETE', 'MOVE', 'COPY']);
/** A source's authenticated requests carry the credential once per this long (the rest fold under the flood gate). */
const CREDENTIAL_EVERY = 10 * 60_000;
const BEACON = '_thumbs/';

const params = z.object({
  theme: z.enum(SHARE_THEMES).optional().describe('What the share holds (random when omitted)'),
  format: z.enum(FORMATS).default('bat').describe('Artifact: .bat that maps the drive, .ps1, .url shortcut, or the address and credentials as text'),
  username: z.string().regex(/^[A-Za-z][A-Za-z0-9._-]{2,39}$/, 'must be 3-40 letters, digits, . _ or -').optional().describe('Share user name (generated when empty)'),
  burstWrites: z.number().int().min(3).max(10_000).default(20).describe('Writes, moves and deletes in 60 s from one source that raise the critical ransomware alert'),
  password: z.string().optional().describe('Generated'),
  company: z.string().optional().describe('Generated'),
  origin: z.string().optional().describe('Generated'),
});
type DavParams = z.infer<typeof params>;
type Stored = DavParams & { theme: ShareTheme; username: string; password: string; company: string };

const USERS = ['svc_fileshare', 'backup.admin', 'scan2folder', 'svc_sharesync', 'fs-migration', 'adm.fileserver'];

export function davLookupKey(username: string, password: string): string {
  return `dav:${sha256(`${username}\u0000${password}`)}`;
}

const stored = (t: Token<DavParams>): Stored => t.params as Stored;
const baseOf = (t: Token<DavParams>): string => (t.urlPath ?? '/').replace(/\/+$/, '');

/** `\\host\Finance\Budget\Q3.xlsx`: how a path of the share reads in hits. */
function unc(t: Decoy<DavParams> & { urlPath?: string | null }, path: string): string {
  const share = shareName((t.params.theme ?? 'finance') as ShareTheme);
  return `\\\\${share.toLowerCase()}\\${share}${path ? `\\${path.replace(/\//g, '\\')}` : ''}`;
}

// ---- the decoy documents in the tree ----

const OFFICE_THEMES: [RegExp, string][] = [
  [/passw|service.acc|privileged|credential/i, 'network-passwords'],
  [/vpn|break-glass/i, 'vpn-access'],
  [/salar|payroll|bonus|compens|headcount|employee/i, 'salaries'],
  [/merger|purchase|term sheet|diligence|settlement/i, 'merger-plans'],
  [/board|minutes|audit/i, 'board-minutes'],
];

const rendered = new Map<string, Buffer>();

/** A generated .docx/.xlsx of the share: a beaconing decoy document (cached, deterministic). */
function officeDocument(t: Token<DavParams>, origin: string, node: TreeNode): Buffer | null {
  const ext = /\.(docx|xlsx)$/i.exec(node.name)?.[1]?.toLowerCase();
  if (!ext) return null;
  const key = `${t.id}\u0000${node.path}`;
  const hit = rendered.get(key);
  if (hit) return hit;
  const seed = createHash('sha256').update(key).digest().readUInt32BE(0);
  const rand = seeded(seed);
  const theme = OFFICE_THEMES.find(([re]) => re.test(node.name))?.[1] ?? (ext === 'xlsx' ? 'budget' : 'board-minutes');
  const created = new Date(node.modified.getTime() - Math.floor(rand() * 90) * 86_400_000);
  const generated = {
    lastModifiedBy: personName(rand),
    created: `${created.toISOString().slice(0, 19)}Z`,
    modified: `${node.modified.toISOString().slice(0, 19)}Z`,
    revision: 2 + Math.floor(rand() * 30),
    editingMinutes: 20 + Math.floor(rand() * 600),
    seed,
  };
  const beacon = `${baseOf(t)}/${BEACON}${Buffer.from(node.path).toString('base64url')}.png`;
  const kind: TokenKind = ext === 'docx' ? word : excel;
  const doc = { ...t, kind: kind.id, urlPath: beacon, params: { theme, filename: node.name, author: personName(rand), company: stored(t).company, generated } };
  // The office kinds' render reads PUBLIC_URL and the organisation (the share's, stored at creation) only.
  const config = { PUBLIC_URL: origin, DECOY_ORGANISATION: stored(t).company, DNS_ZONE: '' } as Config;
  const file = kind.render?.({ config }, doc as Token);
  if (!file || file instanceof Promise) return null;
  if (rendered.size >= 64) rendered.delete(rendered.keys().next().value ?? '');
  rendered.set(key, (file as ArtifactFile).body);
  return (file as ArtifactFile).body;
}

function shareOf(t: Token<DavParams>, req: HttpRequestInfo, origin: string): Share {
  const p = stored(t);
  return {
    seed: t.id,
    theme: p.theme,
    base: baseOf(t),
    session: sessionOf(t.id, req.sourceIp),
    content: (node) => officeDocument(t, origin, node) ?? fillerContent(t.id, node),
    size: (node) => officeDocument(t, origin, node)?.length ?? node.size,
  };
}

// ---- hits ----

function authOf(req: HttpRequestInfo, p: Stored): 'planted' | 'other' | 'none' {
  const b = basicAuth(req);
  if (!b) return 'none';
  return b.username === p.username && b.password === p.password ? 'planted' : 'other';
}

function describe(req: HttpRequestInfo, t: Token<DavParams>): HitFacts {
  const p = stored(t);
  const path = sharePath(baseOf(t), req.path);
  if (path?.startsWith(BEACON.slice(0, -1))) {
    const file = Buffer.from(path.slice(BEACON.length).replace(/\.png$/, ''), 'base64url').toString('utf8').slice(0, 512);
    return { details: { op: 'open', file: unc(t, file) } };
  }
  const auth = authOf(req, p);
  const details: Record<string, unknown> = { op: req.method, path: path === null ? req.path.slice(0, 256) : unc(t, path), auth };
  if (req.method === 'PROPFIND' || req.method === 'LOCK' || req.method === 'COPY') details.depth = String(req.headers.depth ?? 'infinity').slice(0, 10);
  if (req.method === 'PUT') details.bytes = req.body.length;
  const dest = req.headers.destination;
  if (typeof dest === 'string') {
    let to: string | null = null;
    try {
      to = sharePath(baseOf(t), new URL(dest, 'http://x').pathname);
    } catch {
      to = null;
    }
    details.destination = to === null ? dest.slice(0, 256) : unc(t, to);
  }
  if (auth === 'other') {
    const b = basicAuth(req);
    return { classification: 'probe', details: { ...details, username: b?.username.slice(0, 64), password: maskedPassword(b?.password ?? '', t.id) } };
  }
  if (auth === 'none') return { details };
  const s = sessionOf(t.id, req.sourceIp);
  const now = Date.now();
  let credential: string | null = null;
  if (WRITES.has(req.method)) {
    const { count, burst } = countWrite(s, now, t.params.burstWrites);
    if (burst) {
      details.burst = { writes: count, seconds: 60 };
      credential = p.username;
    }
  }
  if (now - s.credentialAt > CREDENTIAL_EVERY) {
    s.credentialAt = now;
    credential = p.username;
  }
  return { credential, details };
}

const VERBS: Record<string, string> = { GET: 'read', HEAD: 'checked', PUT: 'wrote', DELETE: 'deleted', MKCOL: 'created the folder', LOCK: 'locked', UNLOCK: 'unlocked', PROPPATCH: 'set properties on', OPTIONS: 'probed' };

function explain(hit: StoredHit, t: Decoy<DavParams>): HitMeaning {
  const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
  const d = hit.details ?? {};
  const path = detail(d, 'path') ?? unc(t, '');
  if (d.op === 'open') return { action: `${client} opened ${detail(d, 'file') ?? 'a document'} from the decoy share`, evidence: 'touch', techniques: ['T1039'] };
  const burst = d.burst as { writes?: number; seconds?: number } | undefined;
  if (burst) {
    return { action: `${client} changed ${burst.writes ?? 'many'} files in ${burst.seconds ?? 60} s on ${unc(t, '')} (mass overwrite, rename or delete: ransomware canary)`, evidence: 'impact', techniques: ['T1486', 'T1485', 'T1039'] };
  }
  const op = detail(d, 'op') ?? hit.method ?? 'GET';
  const depth = detail(d, 'depth');
  const act =
    op === 'PROPFIND'
      ? `${depth === '0' ? 'looked up' : 'listed'} ${path}`
      : op === 'MOVE' || op === 'COPY'
        ? `${op === 'MOVE' ? 'moved' : 'copied'} ${path} to ${detail(d, 'destination') ?? '?'}`
        : `${VERBS[op] ?? `sent ${op} to`} ${path}${op === 'PUT' && typeof d.bytes === 'number' ? ` (${d.bytes} bytes, quarantined)` : ''}`;
  const techniques = op === 'PROPFIND' ? ['T1135', 'T1083'] : op === 'GET' ? ['T1039'] : [];
  if (d.auth === 'planted') return { action: `${client} ${act} as ${t.params.username ?? 'the share user'}`, evidence: 'credential-used', techniques: ['T1078', ...techniques] };
  const how = d.auth === 'other' ? `with another account${detail(d, 'username') ? ` (${detail(d, 'username')})` : ''}` : 'without credentials';
  return { action: `${client} reached the decoy share ${how}: ${act}`, evidence: 'credential-found', techniques: ['T1135'] };
}

function respond(req: HttpRequestInfo, t: Token<DavParams>, origin: string): HttpReply {
  const p = stored(t);
  const path = sharePath(baseOf(t), req.path);
  if (path === null) return authOf(req, p) === 'planted' ? ancestor(req, baseOf(t)) : site.notFound();
  if (path.startsWith(BEACON.slice(0, -1))) return imageReply(req);
  // A fragment is never part of a request target; acting on the path without it would be unsafe.
  if (req.url.includes('#')) return site.badRequest();
  if (authOf(req, p) !== 'planted') {
    const body = '<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
    return { status: 401, headers: { 'content-type': 'text/html', 'www-authenticate': `Basic realm="${shareName(p.theme)}"` }, body };
  }
  return handleDav(shareOf(t, req, origin), req, path);
}

/**
 * The folders above the share (`/`, `/webdav/`): the Windows WebDAV client asks each of them
 * (OPTIONS, PROPFIND) with the share's credentials before it maps the share, so they answer as
 * plain collections leading to it. Anything else outside the share is nginx's 404.
 */
function ancestor(req: HttpRequestInfo, base: string): HttpReply {
  const dir = req.path.endsWith('/') ? req.path : `${req.path}/`;
  if (!`${base}/`.startsWith(dir)) return site.notFound();
  if (req.method === 'OPTIONS') return { status: 200, headers: { dav: '1, 2', allow: 'OPTIONS, GET, HEAD, PROPFIND', 'ms-author-via': 'DAV' }, body: '' };
  if (req.method !== 'PROPFIND') return site.notFound();
  const next = `${base}/`.slice(0, `${base}/`.indexOf('/', dir.length) + 1);
  const entry = (href: string) =>
    `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
  const depth = String(req.headers.depth ?? '');
  const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${entry(dir)}${depth === '1' ? entry(next) : ''}</D:multistatus>`;
  return { status: 207, headers: { 'content-type': 'application/xml; charset=utf-8' }, body };
}

// ---- artifacts ----

/** The Windows (mini-redirector) UNC form of the share: `\\host@SSL@port\DavWWWRoot\path`. */
function windowsPath(address: string): string {
  const u = new URL(address);
  const ssl = u.protocol === 'https:' ? '@SSL' : '';
  const port = u.port ? `@${u.port}` : '';
  return `\\\\${u.hostname}${ssl}${port}\\DavWWWRoot${decodeURIComponent(u.pathname).replace(/\/+$/, '').replace(/\//g, '\\')}`;
}

function artifactFile(format: Format, address: string, p: Stored): { filename: string; contentType: string; text: string } {
  const share = shareName(p.theme);
  const unc = windowsPath(address);
  switch (format) {
    case 'ps1':
      return {
        filename: `map-${share.toLowerCase()}-drive.ps1`,
        contentType: 'text/plain; charset=utf-8',
        text: `# Map the ${share} share (WebDAV) as drive S:\r\n$password = ConvertTo-SecureString '${p.password}' -AsPlainText -Force\r\n$credential = New-Object System.Management.Automation.PSCredential ('${p.username}', $password)\r\nNew-PSDrive -Name S -PSProvider FileSystem -Root '${unc}' -Credential $credential -Persist -Scope Global\r\n`,
      };
    case 'url':
      return { filename: `${share} share.url`, contentType: 'application/internet-shortcut', text: `[InternetShortcut]\r\nURL=${address}/\r\nIconIndex=9\r\nIconFile=%SystemRoot%\\system32\\imageres.dll\r\n` };
    case 'txt':
      return {
        filename: `${share.toLowerCase()}-share.txt`,
        contentType: 'text/plain; charset=utf-8',
        text: `${share} file share (WebDAV)\nWindows: net use S: "${unc}" /user:${p.username} <password>\nAddress: ${address}/\nUser: ${p.username}\nPassword: ${p.password}\n`,
      };
    default:
      return {
        filename: `map-${share.toLowerCase()}.bat`,
        contentType: 'application/x-bat',
        text: `@echo off\r\nREM Map the ${share} share as S: (WebDAV)\r\nnet use S: /delete /y >nul 2>&1\r\nnet use S: "${unc}" /user:${p.username} ${p.password} /persistent:yes\r\n`,
      };
  }
}

const address = (ctx: { config: Pick<Config, 'PUBLIC_URL'> }, t: Token<DavParams>): string => publicUrl(ctx.config, baseOf(t));

/** A decoy WebDAV share: mounting, listing, reading and writing it are hits; a burst of writes pages critical. */
export const webdavShare = defineKind<DavParams>({
  id: 'webdav-share',
  label: 'Decoy file share (WebDAV)',
  description: 'A mountable network share (WebDAV) with a generated tree of plausible files, its documents themselves decoys. Every request is recorded; a burst of writes or renames raises a critical ransomware alert.',
  channels: ['http'],
  techniques: ['T1135', 'T1083', 'T1039', 'T1078', 'T1486'],
  params,
  example: { theme: 'finance', format: 'bat', burstWrites: 20 },
  internalParams: ['password', 'company', 'origin'],
  generated: ['username'],
  formats: FORMATS,
  searchTerms: (t) => [t.params.username ?? '', secretTerm(t.params.password ?? '')],
  create(ctx, id, p) {
    const theme = p.theme ?? choose(SHARE_THEMES);
    const username = p.username ?? choose(USERS);
    const password = `${randomString(BASE62, 12)}!${randomString('0123456789', 2)}`;
    const urlPath = fillRoute(`/${choose(['webdav', 'dav', 'shares', 'remote.php/dav/files'])}/${choose(['{b36}', '{word}-{hex}', '{b62}'])}`);
    return { params: { ...p, theme, username, password, company: organisationName(ctx.config), origin: ctx.config.PUBLIC_URL }, lookupKey: davLookupKey(username, password), urlPath };
  },
  artifact(ctx, t) {
    const p = stored(t);
    return {
      url: address(ctx, t),
      filename: artifactFile(p.format, address(ctx, t), p).filename,
      contentType: artifactFile(p.format, address(ctx, t), p).contentType,
      hint: `Plant where an intruder looks for mapped drives (a logon script folder, a user's desktop, a password manager export). Windows maps it as ${windowsPath(address(ctx, t))}; user ${p.username}.`,
    };
  },
  render(ctx, t, format) {
    const f = artifactFile((FORMATS as readonly string[]).includes(format ?? '') ? (format as Format) : t.params.format, address(ctx, t), stored(t));
    return { filename: f.filename, contentType: f.contentType, body: Buffer.from(f.text) };
  },
  explain,
  http: {
    lookupKey(req) {
      const b = basicAuth(req);
      return b ? davLookupKey(b.username, b.password) : null;
    },
    describe,
    respond: (req, t) => respond(req, t, t.params.origin ?? originOf(req)),
  },
});

/**
 * Where the share's documents beacon to when the token predates the stored PUBLIC_URL: the
 * origin the client reached the share at.
 */
function originOf(req: HttpRequestInfo): string {
  const proto = String(req.headers['x-forwarded-proto'] ?? 'http').split(',')[0]?.trim() === 'https' ? 'https' : 'http';
  const host = String(req.headers.host ?? 'localhost').replace(/[^A-Za-z0-9.:[\]-]/g, '').slice(0, 255);
  return `${proto}://${host}`;
}
