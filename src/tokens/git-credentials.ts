import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { fillRoute } from './addresses.ts';
import { detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { basicAuth, bearerToken, choose, clipText, maskedPassword, randomString, sha256 } from './secrets.ts';
import { renderTemplate } from './templates.ts';
import { publicUrl } from './urls.ts';

/**
 * A GitLab personal access token planted as a `~/.git-credentials` line and as the `origin`
 * remote of a repository's `.git/config`, both naming a repository served over git smart-HTTP
 * by the public listener. A clone, fetch, ls-remote or push with the token is a credential-use
 * hit (git's version from its user agent), as is the token on GitLab's API; the answer is
 * exactly GitLab's refusal of a revoked token (401, `Basic realm="GitLab"`, its text), so git
 * prints its usual "Authentication failed".
 */

const segment = z.string().trim().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be lower-case letters, digits, . _ or -');
const params = z.object({
  group: segment.optional().describe('GitLab group of the repository (generated when empty)'),
  repo: segment.optional().describe('Repository name (generated when empty)'),
  username: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a user name').optional().describe('User name beside the token (generated when empty; GitLab ignores it for tokens)'),
  token: z.string().regex(/^glpat-[A-Za-z0-9_-]{20}$/, 'must be a GitLab token: glpat- and 20 letters, digits, _ or -').optional().describe('Planted personal access token (generated when empty)'),
  urlPath: z.string().optional().describe('Generated'),
});
type GitParams = z.infer<typeof params>;

const GROUPS = ['platform', 'infra', 'devops', 'ops', 'backend', 'data-eng', 'sre', 'payments', 'internal-tools'];
const REPOS = ['deploy-scripts', 'ansible-playbooks', 'terraform-prod', 'k8s-manifests', 'ci-templates', 'helm-charts', 'db-migrations', 'ops-runbooks', 'secrets-sync'];
const USERS = ['oauth2', 'ci-bot', 'deploy-bot', 'gitlab-ci-token', 'svc-build', 'release-bot'];
const AUTHORS = [['Jana Meyer', 'j.meyer'], ['Tomas Novak', 't.novak'], ['Kai Schulz', 'k.schulz'], ['Lena Larsen', 'l.larsen'], ['Marco Rossi', 'm.rossi']] as const;
const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';

/** The lookup key of a planted token (a digest; the key column never holds the token). */
const tokenKey = (token: string) => `git:${sha256(token)}`;

/** Every place a GitLab client puts a token: basic-auth password (git), PRIVATE-TOKEN or bearer (API). */
function presented(req: HttpRequestInfo): { token: string; via: 'basic' | 'private-token' | 'bearer'; username: string | null } | null {
  const basic = basicAuth(req);
  if (basic) return { token: basic.password, via: 'basic', username: basic.username };
  const header = req.headers['private-token'];
  const privateToken = Array.isArray(header) ? header[0] : header;
  if (privateToken && privateToken.length <= 512) return { token: privateToken, via: 'private-token', username: null };
  const bearer = bearerToken(req);
  return bearer ? { token: bearer, via: 'bearer', username: null } : null;
}

/** What git asked for: `upload-pack` (clone, fetch, ls-remote), `receive-pack` (push), or null for other requests. */
function gitService(req: HttpRequestInfo): string | null {
  const service = req.query.get('service') ?? /\/(git-upload-pack|git-receive-pack)$/.exec(req.path)?.[1] ?? null;
  return service === 'git-upload-pack' || service === 'git-receive-pack' ? service : null;
}

function repoUrl(ctx: { config: { PUBLIC_URL: string } }, t: Pick<Token<GitParams>, 'params' | 'urlPath'>): string {
  return publicUrl(ctx.config, t.params.urlPath ?? t.urlPath ?? '/');
}

function withCredentials(url: string, username: string, token: string): string {
  const u = new URL(url);
  u.username = username;
  u.password = token;
  return u.toString();
}

function describe(req: HttpRequestInfo, t: Token<GitParams>): HitFacts {
  const service = gitService(req);
  const gitVersion = /^git\/(\S{1,40})/.exec(String(req.headers['user-agent'] ?? ''))?.[1] ?? null;
  const base = { service, gitVersion, path: clipText(req.path, 256) };
  const p = presented(req);
  if (!p) return { details: { ...base, git: 'no-credentials' } };
  if (p.token === t.params.token) return { credential: `${t.params.token.slice(0, 10)}…`, details: { ...base, git: 'token-used', via: p.via, username: clipText(p.username, 128) } };
  return { classification: 'probe', details: { ...base, git: 'other-token', via: p.via, username: clipText(p.username, 128), token: maskedPassword(p.token, t.id) } };
}

function explain(hit: StoredHit, t: Decoy<GitParams>): HitMeaning {
  const client = detail(hit.details, 'gitVersion') ? `git ${detail(hit.details, 'gitVersion')}` : 'a client';
  const repo = `${t.params.group ?? ''}/${t.params.repo ?? ''}`;
  const service = detail(hit.details, 'service');
  const what = service === 'git-receive-pack' ? `pushed to ${repo}` : service ? `fetched ${repo} (clone, fetch or ls-remote)` : `called the code server (${hit.method ?? 'GET'} ${detail(hit.details, 'path') ?? ''})`;
  switch (detail(hit.details, 'git')) {
    case 'token-used':
      return { action: `${client} ${what} with the planted token ${hit.credential ?? ''}; refused`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078', 'T1213'] };
    case 'other-token':
      return { action: `${client} ${what} with another token; refused`, evidence: 'credential-found', techniques: ['T1552.001'] };
    default:
      return { action: `${client} ${what} without credentials; asked for them`, evidence: 'credential-found', techniques: ['T1552.001'] };
  }
}

/** GitLab's refusal of a revoked or wrong token (Repositories::GitHttpClientController#render_access_denied). */
function accessDenied(req: HttpRequestInfo, publicBase: string): HttpReply {
  const help = `${publicBase}/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied`;
  return {
    status: 401,
    headers: { 'content-type': TEXT, 'www-authenticate': 'Basic realm="GitLab"', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'x-request-id': randomString('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 26) },
    body: `HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See ${help}`,
  };
}

function respond(base: string) {
  return (req: HttpRequestInfo): HttpReply => {
    if (gitService(req) || /\/info\/refs$/.test(req.path)) return accessDenied(req, base);
    if (req.path.startsWith('/api/')) return { status: 401, headers: { 'content-type': 'application/json' }, body: '{"message":"401 Unauthorized"}' };
    // A browser on the repository page is sent to sign in, as GitLab does for a private project.
    const signIn = `${base}/users/sign_in`;
    return { status: 302, headers: { location: signIn, 'content-type': HTML, 'cache-control': 'no-cache' }, body: `<html><body>You are being <a href="${signIn}">redirected</a>.</body></html>` };
  };
}

/** A GitLab token in ~/.git-credentials and a repository remote, caught over git smart-HTTP. */
export const gitCredentials = defineKind<GitParams>({
  id: 'git-credentials',
  label: 'Git credentials (GitLab token)',
  description:
    'A GitLab personal access token as a ~/.git-credentials line and as the origin remote of a repository .git/config, pointing at git smart-HTTP on the public listener. A clone, fetch, ls-remote or push with it is a credential-use alert; git gets GitLab\'s own refusal.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1213'],
  params,
  example: { group: 'platform', repo: 'deploy-scripts' },
  internalParams: ['urlPath'],
  generated: ['group', 'repo', 'username', 'token'],
  searchTerms: (t) => [t.params.token ?? ''],
  create(_ctx, id, p) {
    const group = p.group ?? choose(GROUPS);
    const repo = p.repo ?? choose(REPOS);
    const token = p.token ?? `glpat-${randomString('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-', 20)}`;
    // A random subgroup makes the path the token's own (the listener finds the token by it before git sends any credential).
    // The token's own path is the subgroup (a base path: every request under it is the token's); the repository is under it.
    const base = fillRoute(`/${group}/${choose(['{b36}', '{word}-{hex}', '{b62}'])}`);
    return { params: { ...p, group, repo, username: p.username ?? choose(USERS), token, urlPath: `${base}/${repo}.git` }, urlPath: base, lookupKey: tokenKey(token) };
  },
  artifact(ctx, t) {
    return {
      url: repoUrl(ctx, t),
      filename: '.git-credentials',
      contentType: TEXT,
      hint: `Put the line in a user's ~/.git-credentials (credential.helper store), and/or the format git-config as a checkout's .git/config. Token ${t.params.token?.slice(0, 10) ?? ''}… for ${repoUrl(ctx, t)}.`,
    };
  },
  formats: ['git-config'],
  render(ctx, t, format) {
    const url = repoUrl(ctx, t);
    const username = t.params.username ?? 'oauth2';
    const token = t.params.token ?? '';
    if (format === 'git-config') {
      const [name, mail] = choose(AUTHORS);
      const host = new URL(url).hostname;
      const body = renderTemplate('tokens/git-credentials/config.hbs', { remote: withCredentials(url, username, token), branch: randomInt(3) === 0 ? 'master' : 'main', authorName: name, authorEmail: `${mail}@${host}` }, 'text');
      return { filename: 'config', contentType: TEXT, body: Buffer.from(body) };
    }
    const origin = new URL(url);
    return { filename: '.git-credentials', contentType: TEXT, body: Buffer.from(`${withCredentials(`${origin.protocol}//${origin.host}`, username, token).replace(/\/$/, '')}\n`) };
  },
  explain,
  http: {
    lookupKey(req) {
      const p = presented(req);
      return p && /^glpat-[A-Za-z0-9_-]{20}$/.test(p.token) ? tokenKey(p.token) : null;
    },
    describe,
    respond: (req) => respond(origin(req))(req),
  },
});

/** The origin the client asked for (GitLab names its own external URL in links; the request's Host is that URL here). */
function origin(req: HttpRequestInfo): string {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim();
  const host = one(req.headers['x-forwarded-host']) ?? one(req.headers.host) ?? 'localhost';
  const proto = one(req.headers['x-forwarded-proto']) === 'https' ? 'https' : 'http';
  return /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? `${proto}://${host}` : `${proto}://localhost`;
}
