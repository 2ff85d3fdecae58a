import { createHash, randomInt, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { fillRoute } from './addresses.ts';
import { zipSync } from 'fflate';
import { detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { organisationName } from './organisation.ts';
import { backdate, basicAuth, choose, clipText, humanPassword, maskedPassword, sha256 } from './secrets.ts';
import { workingCopy } from './svn-wc.ts';
import { renderTemplate } from './templates.ts';
import { publicUrl } from './urls.ts';

/**
 * A Subversion repository behind the public listener: an `svn checkout` URL in a project README
 * inside a working copy of trunk (svn-wc.ts), and the svn client's own password cache
 * (`~/.subversion/auth/svn.simple/<md5 of realm>`, in the format svn writes with plaintext
 * storage on) holding the repository user and password. It
 * answers as Apache with mod_dav_svn and `Require valid-user` does behind an nginx reverse proxy
 * (Server: nginx, Apache's 401 page and realm). Every request is a hit naming the svn command it
 * belongs to and the client's version. The planted password is let through OPTIONS (the
 * capability exchange every command starts with, answered with mod_dav_svn's headers), so the
 * next request shows the command (checkout, info, ls, log, commit …); that one is refused with
 * 401 and the client reports an authentication failure. Other passwords are masked probes.
 */

const params = z.object({
  project: z.string().trim().regex(/^[a-z][a-z0-9_-]{1,39}$/, 'must be 2-40 lower-case letters, digits, _ or -').optional().describe('Repository (project) name (generated when empty)'),
  username: z.string().trim().regex(/^[A-Za-z][A-Za-z0-9._-]{2,39}$/, 'must be 3-40 letters, digits, . _ or -').optional().describe('Repository user name (generated when empty)'),
  realm: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9 ._()-]{2,59}$/, 'must be 3-60 letters, digits, spaces, . _ ( ) or -').optional().describe('Basic-auth realm (AuthName) the server announces (generated when empty)'),
  format: z.enum(['bundle', 'auth', 'readme']).default('bundle').describe('Download: a home-folder zip with the svn password cache and a working copy of trunk (with a checkout README), or the cache file or the README alone'),
  password: z.string().optional().describe('Generated'),
  uuid: z.string().optional().describe('Generated'),
  youngest: z.number().int().optional().describe('Generated'),
});
type SvnParams = z.infer<typeof params>;
type Stored = SvnParams & { project: string; username: string; realm: string; password: string; uuid: string; youngest: number };

const PROJECTS = ['billing-core', 'erp-connectors', 'legacy-portal', 'payroll-batch', 'warehouse-ctl', 'plc-firmware', 'reporting', 'crm-sync', 'scada-hmi', 'build-tools'];
const USERS = ['svc_build', 'buildbot', 'jenkins', 'svn-deploy', 'ci-svn', 'release.mgr', 'svc_svnsync'];
const REALMS = ['Subversion Repository', 'Subversion Repository', 'Subversion repositories', 'SVN', 'Source code'];
const BUILDS = ['ant dist', 'mvn -DskipTests package', 'make all', 'msbuild /p:Configuration=Release Build.sln', './gradlew assemble'];
const TEXT = 'text/plain; charset=utf-8';

const stored = (t: Token<SvnParams> | Decoy<SvnParams>): Stored => t.params as Stored;
const base = (t: Pick<Token<SvnParams>, 'urlPath'>): string => (t.urlPath ?? '/svn').replace(/\/+$/, '');

/** Lookup key of the planted pair (a digest), so it is recognised anywhere on the listener. */
export const svnLookupKey = (username: string, password: string): string => `svn:${sha256(`${username}\u0000${password}`)}`;

/**
 * The realm string svn keys its password cache by: `<scheme://host:port> realm`, port always
 * written. The cache file's name is its md5 (libsvn_subr/config_auth.c).
 */
export function svnRealmString(url: string, realm: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return `<${u.protocol}//${u.hostname}:${port}> ${realm}`;
}

/** A hash file as svn_hash_write2 writes it: `K len`, key, `V len`, value, …, `END`; lengths in bytes. */
function svnHash(entries: readonly [string, string][]): string {
  const lines = [...entries].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([k, v]) => [`K ${Buffer.byteLength(k)}`, k, `V ${Buffer.byteLength(v)}`, v]);
  return `${[...lines, 'END'].join('\n')}\n`;
}

function files(config: { PUBLIC_URL: string }, t: Token<SvnParams>): { trunk: string; authName: string; auth: string; readme: string } {
  const p = stored(t);
  const root = publicUrl(config, base(t));
  const realmString = svnRealmString(root, p.realm);
  const auth = svnHash([['passtype', 'simple'], ['password', p.password], ['svn:realmstring', realmString], ['username', p.username]]);
  const readme = renderTemplate('tokens/svn/README.md.hbs', {
    project: p.project,
    summary: choose(['Batch jobs and their deployment scripts.', 'Sources of the in-house application and its installer.', 'Connectors between the ERP and the warehouse systems.']),
    trunk: `${root}/trunk`,
    root,
    username: p.username,
    team: choose(['release', 'build', 'integration', 'ops']),
    build: choose(BUILDS),
    contact: choose(['#dev-tools on chat', 'the service desk (queue "Development tools")', `svn-admin@${new URL(config.PUBLIC_URL).hostname}`]),
  }, 'text');
  return { trunk: `${root}/trunk`, authName: createHash('md5').update(realmString).digest('hex'), auth, readme };
}

const COMMITTERS = ['jmeyer', 'anovak', 'kschulz', 'tlarsen', 'mrossi', 'lbauer', 'pnowak'];

/**
 * A home folder as svn leaves it: the password cache, and `<project>/` as a checkout of trunk
 * holding the README (a working copy: `svn info` works offline, `svn update` calls the decoy).
 */
function homeFolder(config: { PUBLIC_URL: string }, t: Token<SvnParams>, f: ReturnType<typeof files>): Buffer {
  const p = stored(t);
  const changed = backdate(30, 400);
  const checkedOut = backdate(1, 29);
  const wc = workingCopy({
    root: publicUrl(config, base(t)),
    uuid: p.uuid,
    reposPath: 'trunk',
    revision: p.youngest,
    changedRevision: Math.max(1, p.youngest - randomInt(0, 40)),
    author: choose(COMMITTERS),
    changed,
    checkedOut,
    files: [{ name: 'README.md', body: Buffer.from(f.readme) }],
  });
  const entries: Record<string, [Uint8Array, { mtime: Date; os: number; attrs: number }]> = {
    [`.subversion/auth/svn.simple/${f.authName}`]: [Buffer.from(f.auth), { mtime: checkedOut, os: 3, attrs: 0o100644 << 16 }],
  };
  for (const [path, body] of Object.entries(wc)) {
    // svn's modes: folders 755, pristine copies read-only, the rest 644.
    const mode = path.endsWith('/') ? 0o40755 : path.startsWith('.svn/pristine/') ? 0o100444 : 0o100644;
    entries[`${p.project}/${path}`] = [body, { mtime: checkedOut, os: 3, attrs: mode << 16 }];
  }
  return Buffer.from(zipSync(entries, { level: 6 }));
}

// ---- what the client asked for ----

/** The svn command a request belongs to, told from its method and DAV body (libsvn_ra_serf's requests). */
export function svnOperation(req: HttpRequestInfo): string {
  const body = req.body.subarray(0, 4096).toString('utf8');
  switch (req.method) {
    case 'OPTIONS':
      return 'connect';
    case 'PROPFIND':
      if (String(req.headers.depth ?? '') === '1') return 'list';
      // svn info stats the path (version-name, creator …); checkout, export and update only ask whether it is a folder.
      return /version-name|creationdate|creator-displayname|lockdiscovery/.test(body) ? 'info' : 'checkout';
    case 'REPORT': {
      const report = /<S:([a-z-]{1,40})-report\b/.exec(body)?.[1] ?? '';
      const map: Record<string, string> = { update: 'checkout', 'inherited-props': 'checkout', log: 'log', list: 'list', 'file-revs': 'blame', 'get-locks': 'info', mergeinfo: 'mergeinfo', replay: 'sync', 'get-location-segments': 'log', 'get-locations': 'log', 'get-deleted-rev': 'log' };
      return map[report] ?? 'report';
    }
    case 'GET':
    case 'HEAD':
      return 'cat';
    case 'POST':
    case 'PUT':
    case 'MKACTIVITY':
    case 'CHECKOUT':
    case 'MERGE':
    case 'MKCOL':
    case 'DELETE':
    case 'PROPPATCH':
    case 'COPY':
    case 'MOVE':
      return 'commit';
    case 'LOCK':
    case 'UNLOCK':
      return 'lock';
    default:
      return 'other';
  }
}

/** `SVN/1.14.2 (x86_64-pc-linux-gnu) serf/1.3.9`: the client's version, platform and HTTP library. */
function clientOf(req: HttpRequestInfo): { svnVersion: string | null; platform: string | null } {
  const ua = String(req.headers['user-agent'] ?? '').slice(0, 256);
  const m = /^SVN\/([\w.-]{1,30})(?: \(([\w.-]{1,60})\))?/.exec(ua);
  return { svnVersion: m?.[1] ?? null, platform: m?.[2] ?? null };
}

function authOf(req: HttpRequestInfo, p: Stored): 'planted' | 'other' | 'none' {
  const b = basicAuth(req);
  if (!b) return 'none';
  return b.username === p.username && b.password === p.password ? 'planted' : 'other';
}

function describe(req: HttpRequestInfo, t: Token<SvnParams>): HitFacts {
  const p = stored(t);
  const auth = authOf(req, p);
  const path = req.path.startsWith(`${base(t)}/`) ? req.path.slice(base(t).length) : req.path;
  const details: Record<string, unknown> = { operation: svnOperation(req), request: req.method, path: clipText(path, 256), ...clientOf(req), auth };
  if (auth === 'planted') return { credential: p.username, details };
  if (auth === 'other') {
    const b = basicAuth(req);
    return { classification: 'probe', details: { ...details, username: clipText(b?.username ?? '', 64), password: maskedPassword(b?.password ?? '', t.id) } };
  }
  return { details };
}

const WHAT: Record<string, string> = {
  connect: 'connected to', checkout: 'checked out (or exported)', info: 'ran svn info on', list: 'listed', log: 'read the log of', cat: 'read a file of', blame: 'ran blame on',
  commit: 'tried to commit to', lock: 'tried to lock a file in', mergeinfo: 'read the merge info of', sync: 'tried to mirror (svnsync)', report: 'queried', other: 'sent a request to',
};

function explain(hit: StoredHit, t: Decoy<SvnParams>): HitMeaning {
  const version = detail(hit.details, 'svnVersion');
  const client = version ? `svn ${version}` : 'a client';
  const repo = `the ${t.params.project ?? ''} Subversion repository`;
  const what = `${WHAT[detail(hit.details, 'operation') ?? 'other'] ?? 'sent a request to'} ${repo}`;
  switch (detail(hit.details, 'auth')) {
    case 'planted': {
      // OPTIONS is let through for the planted account; the command's own requests are refused.
      const refused = detail(hit.details, 'operation') === 'connect' ? '' : '; refused';
      return { action: `${client} ${what} as ${t.params.username ?? 'the planted user'} with the planted password${refused}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078', 'T1213'] };
    }
    case 'other':
      return { action: `${client} ${what} with another account (${detail(hit.details, 'username') ?? '?'}); refused`, evidence: 'credential-found', techniques: ['T1110.001', 'T1213'], user: detail(hit.details, 'username') };
    default:
      return { action: `${client} ${what} without credentials; asked for them`, evidence: 'credential-found', techniques: ['T1213'] };
  }
}

// ---- answers ----

/** Apache's 401 page (ap_send_error_response), passed through by nginx as proxy_pass does. */
const UNAUTHORIZED_PAGE =
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n<html><head>\n<title>401 Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn\'t understand how to supply\nthe credentials required.</p>\n</body></html>\n';

function unauthorized(p: Stored): HttpReply {
  return { status: 401, headers: { 'content-type': 'text/html; charset=iso-8859-1', 'www-authenticate': `Basic realm="${p.realm}"` }, body: UNAUTHORIZED_PAGE };
}

const SVN_NS = 'http://subversion.tigris.org/xmlns/dav/svn';
/** mod_dav_svn 1.14's DAV capability list, in its order (repeated DAV headers, joined as one). */
const DAV = ['1,2', 'version-control,checkout,working-resource', 'merge,baseline,activity,version-controlled-collection', ...['depth', 'log-revprops', 'atomic-revprops', 'partial-replay', 'inherited-props', 'inline-props', 'reverse-file-revs', 'list', 'mergeinfo'].map((c) => `${SVN_NS}/${c}`)];
const DAV_V2 = ['replay-rev-resource', 'ephemeral-txnprops', 'svndiff1', 'svndiff2', 'put-result-checksum'].map((c) => `${SVN_NS}/${c}`);

/** mod_dav_svn's answer to OPTIONS: capabilities, and with an activity-collection-set body the HTTPv2 stubs. */
function options(req: HttpRequestInfo, t: Token<SvnParams>): HttpReply {
  const p = stored(t);
  const root = base(t);
  const full = req.body.includes('activity-collection-set');
  const headers: Record<string, string> = { 'content-type': 'text/xml; charset="utf-8"', dav: DAV.join(', '), 'ms-author-via': 'DAV', allow: 'OPTIONS,GET,HEAD,POST,DELETE,TRACE,PROPFIND,PROPPATCH,COPY,MOVE,LOCK,UNLOCK,CHECKOUT' };
  if (!full) return { status: 200, headers, body: '<?xml version="1.0" encoding="utf-8"?>\n<D:options-response xmlns:D="DAV:">\n</D:options-response>\n' };
  headers.dav = [...DAV, ...DAV_V2].join(', ');
  Object.assign(headers, {
    'svn-youngest-rev': String(p.youngest),
    'svn-repository-uuid': p.uuid,
    'svn-repository-mergeinfo': 'yes',
    'svn-repository-root': root,
    'svn-me-resource': `${root}/!svn/me`,
    'svn-rev-root-stub': `${root}/!svn/rvr`,
    'svn-rev-stub': `${root}/!svn/rev`,
    'svn-txn-root-stub': `${root}/!svn/txr`,
    'svn-txn-stub': `${root}/!svn/txn`,
    'svn-vtxn-root-stub': `${root}/!svn/vtxr`,
    'svn-vtxn-stub': `${root}/!svn/vtxn`,
    'svn-allow-bulk-updates': 'On',
    'svn-supported-posts': 'create-txn, create-txn-with-props',
  });
  return { status: 200, headers, body: `<?xml version="1.0" encoding="utf-8"?>\n<D:options-response xmlns:D="DAV:">\n<D:activity-collection-set><D:href>${root}/!svn/act/</D:href></D:activity-collection-set></D:options-response>\n` };
}

function respond(req: HttpRequestInfo, t: Token<SvnParams>): HttpReply {
  const p = stored(t);
  if (req.method === 'OPTIONS' && authOf(req, p) === 'planted') return options(req, t);
  return unauthorized(p);
}

// ---- the kind ----

/** An svn checkout URL with the client's cached password, caught when the repository is used. */
export const svnToken = defineKind<SvnParams>({
  id: 'svn',
  label: 'Subversion repository (svn checkout + password cache)',
  description:
    "A project README with an svn checkout URL on the public listener and the svn client's password cache (~/.subversion/auth/svn.simple) holding the repository account. Any svn command against the URL is recorded with the client version and the command; the planted password is a credential-use alert, and svn reports an authentication failure.",
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1213'],
  params,
  example: { project: 'billing-core', format: 'bundle' },
  internalParams: ['password', 'uuid', 'youngest'],
  generated: ['project', 'username', 'realm'],
  searchTerms: (t) => [t.params.username ?? '', t.params.project ?? ''].filter(Boolean),
  create(ctx, _id, p) {
    const username = p.username ?? choose(USERS);
    const password = humanPassword();
    const realm = p.realm ?? (randomInt(4) === 0 ? `${organisationName(ctx.config)} Subversion` : choose(REALMS));
    const project = p.project ?? choose(PROJECTS);
    // Repositories sit under one parent (SVNParentPath); the random part makes the path the token's own.
    const urlPath = fillRoute(`/${choose(['svn', 'repos', 'svn/repos', 'scm/svn'])}/${project}-${choose(['{hex}', '{b36}'])}`);
    const stored: Stored = { ...p, project, username, realm, password, uuid: randomUUID(), youngest: randomInt(800, 42_000) };
    return { params: stored, urlPath, lookupKey: svnLookupKey(username, password) };
  },
  artifact(ctx, t) {
    const f = files(ctx.config, t);
    const fmt = t.params.format;
    return {
      url: f.trunk,
      filename: fmt === 'auth' ? f.authName : fmt === 'readme' ? 'README.md' : `svn-${stored(t).project}.zip`,
      contentType: fmt === 'bundle' ? 'application/zip' : TEXT,
      hint: `Unzip in a home folder (gives .subversion/auth/svn.simple/${f.authName}, svn's saved password for the repository, and ${stored(t).project}/, a working copy of trunk whose README.md has the checkout command), or plant the README (format readme) on a wiki or share. svn checkout ${f.trunk} as ${stored(t).username}.`,
    };
  },
  formats: ['auth', 'readme'],
  render(ctx, t, format) {
    const f = files(ctx.config, t);
    const which = format ?? t.params.format;
    if (which === 'auth') return { filename: f.authName, contentType: TEXT, body: Buffer.from(f.auth) };
    if (which === 'readme') return { filename: 'README.md', contentType: TEXT, body: Buffer.from(f.readme) };
    return { filename: `svn-${stored(t).project}.zip`, contentType: 'application/zip', body: homeFolder(ctx.config, t, f) };
  },
  explain,
  http: {
    lookupKey(req) {
      const b = basicAuth(req);
      return b ? svnLookupKey(b.username, b.password) : null;
    },
    describe,
    respond,
  },
});
