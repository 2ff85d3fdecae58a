import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { backdate, basicAuth, choose, clipText, formBody, humanPassword, maskedPassword, sha256 } from './secrets.ts';
import { renderTemplate } from './templates.ts';
import { fillRoute } from './addresses.ts';
import { publicUrl } from './urls.ts';

/**
 * A planted username + password and the URL of an internal-looking login portal served by the
 * public listener. Visiting the portal is a hit (the file was found); submitting the planted
 * pair (form POST or HTTP basic auth) is a credential-use hit naming the credential; any other
 * pair is recorded as probing, with the password masked.
 */

const LOOKS = {
  vpn: {
    title: 'Remote Access', heading: 'Sign in to continue', button: 'Login', userLabel: 'Username', userField: 'username', passField: 'credential',
    paths: ['/remote/login?realm={b36}', '/vpn/{word}-{hex}/logon', '/dana-na/auth/url_{num}/welcome.cgi', '/sslvpn/portal.html?id={b62}'], realm: true, remember: false, system: 'VPN',
    background: '#eef1f5', width: 380, marginTop: 90, align: 'center', radius: 2, brandColor: '#1b2a3a',
  },
  ci: {
    title: 'Sign in [Build]', heading: 'Sign in to Build', button: 'Sign in', userLabel: 'Username', userField: 'j_username', passField: 'j_password',
    paths: ['/login?from={b62}', '/jenkins/{word}-{b36}/login', '/build/login?tenant={hex}'], realm: false, remember: true, system: 'Build server',
    background: '#f8f8f8', width: 360, marginTop: 110, align: 'center', radius: 6, brandColor: '#333333',
  },
  git: {
    title: 'Sign in · Code', heading: 'Sign in', button: 'Sign in', userLabel: 'Username or primary email', userField: 'user[login]', passField: 'user[password]',
    paths: ['/users/sign_in?redirect_to={b62}', '/{word}-{hex}/users/sign_in', '/scm/login?ref={b36}'], realm: false, remember: true, system: 'Code server',
    background: '#fbfafd', width: 400, marginTop: 70, align: 'center', radius: 8, brandColor: '#28272d',
  },
  sso: {
    title: 'Sign in', heading: 'Sign in with your organizational account', button: 'Next', userLabel: 'User name', userField: 'UserName', passField: 'Password',
    paths: ['/adfs/ls/?client-request-id={uuid}', '/auth/realms/{word}-{b36}/protocol/openid-connect/auth', '/idp/profile/SAML2/Redirect/SSO?execution={b62}'], realm: false, remember: false, system: 'Single sign-on',
    background: '#f2f2f2', width: 420, marginTop: 80, align: 'left', radius: 0, brandColor: '#1b1b1b',
  },
} as const;
type Look = keyof typeof LOOKS;

/** Field names any portal look accepts, so a scripted login with generic names still counts. */
const USER_FIELDS = ['username', 'user', 'login', 'email', 'j_username', 'user[login]', 'UserName', 'uname'];
const PASS_FIELDS = ['password', 'pass', 'passwd', 'credential', 'j_password', 'user[password]', 'Password', 'pwd'];

const safeLine = (max: number) =>
  z.string().trim().min(1).max(max).regex(/^[^\r\n\t<>"\\]+$/, 'must be one line without < > " or \\');

const params = z.object({
  format: z.enum(['note', 'ini', 'csv', 'rdp']).default('note').describe('File to plant: text note, .ini config, password-manager .csv export, or .rdp connection file'),
  look: z.enum(['vpn', 'ci', 'git', 'sso']).default('vpn').describe('What the login portal looks like'),
  title: safeLine(80).optional().describe('Browser title of the portal (default depends on the look)'),
  brand: safeLine(60).default('IT Services').describe('Organisation name shown above the form (text only, no logo)'),
  accent: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour such as #1f6feb').default('#2f6fbd').describe('Button colour'),
  footer: safeLine(120).optional().describe('Small print under the form'),
  username: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._@\\-]{1,63}$/, 'must be 2-64 letters, digits, . _ @ \\ or -, starting with a letter or digit').optional().describe('Planted user name (generated when empty)'),
  password: z.string().regex(/^[\x21-\x2a\x2c\x2e-\x3c\x3e\x3f\x41-\x7e][\x21-\x7e]{7,63}$/, 'must be 8-64 printable characters without spaces, not starting with = + - @').optional().describe('Planted password (generated when empty)'),
  onSuccess: z.enum(['mfa', 'fail']).default('mfa').describe('What the portal shows when the planted pair is used: an MFA prompt, or "login failed"'),
  portalPath: z.string().optional().describe('Generated: path of the portal'),
});
type CredentialsParams = z.infer<typeof params>;

const FIRST = ['j', 'm', 'a', 's', 'k', 't', 'r', 'd', 'c', 'l', 'n', 'p', 'h', 'e'];
const LAST = ['hartmann', 'meyer', 'novak', 'okafor', 'lindqvist', 'brennan', 'castillo', 'schulz', 'tanaka', 'moreau', 'kowalski', 'fischer', 'duarte', 'walsh', 'ivanova', 'becker', 'larsen', 'rossi'];
const SERVICE = ['svc_backup', 'svc_deploy', 'svc_reports', 'svc_sqlagent', 'svc_scan', 'adm_helpdesk', 'svc_veeam', 'svc_jenkins', 'svc_ftp'];

function generateUsername(): string {
  if (randomInt(3) === 0) return `${choose(SERVICE)}${randomInt(10, 99)}`;
  const style = randomInt(3);
  const f = choose(FIRST);
  const l = choose(LAST);
  return style === 0 ? `${f}.${l}` : style === 1 ? `${f}${l}${randomInt(1, 9)}` : `adm-${f}${l}`;
}

function generatePassword(): string {
  return humanPassword();
}

/** The lookup key of a planted pair: the pair can be recognised anywhere, and the key column never holds the password. */
function pairKey(username: string, password: string): string {
  return `cred:${sha256(`${username.toLowerCase()}\0${password}`)}`;
}

type Attempt = { username: string; password: string; via: 'form' | 'basic' };

function attempt(req: HttpRequestInfo): Attempt | null {
  const basic = basicAuth(req);
  if (basic) return { ...basic, via: 'basic' };
  const form = formBody(req);
  if (!form) return null;
  const username = USER_FIELDS.map((f) => form.get(f)).find((v) => v !== null && v !== undefined);
  const password = PASS_FIELDS.map((f) => form.get(f)).find((v) => v !== null && v !== undefined);
  if (username === undefined || password === undefined || username === null || password === null) return null;
  return { username, password, via: 'form' };
}

function planted(t: Pick<Token<CredentialsParams>, 'params'>): { username: string; password: string } {
  return { username: t.params.username ?? '', password: t.params.password ?? '' };
}

function matches(a: Attempt, t: Token<CredentialsParams>): boolean {
  const p = planted(t);
  return a.username.toLowerCase() === p.username.toLowerCase() && a.password === p.password;
}

function portalUrl(ctx: { config: { PUBLIC_URL: string } }, t: Token<CredentialsParams>): string {
  return publicUrl(ctx.config, t.params.portalPath ?? t.urlPath ?? '/');
}

function page(t: Token<CredentialsParams>, name: 'login' | 'mfa', extra: Record<string, unknown>): string {
  const look = LOOKS[t.params.look as Look];
  return renderTemplate(`site/portal/${name}.hbs`, {
    ...look,
    title: t.params.title ?? look.title,
    brand: t.params.brand,
    subtitle: t.params.look === 'vpn' ? 'SSL VPN' : undefined,
    accent: t.params.accent,
    footer: t.params.footer ?? `© ${new Date().getFullYear()} ${t.params.brand}. Authorized use only.`,
    realm: look.realm ? 'corp' : undefined,
    action: t.params.portalPath ?? t.urlPath ?? '',
    ...extra,
  }, 'html');
}

/** Artifact file per format. */
const FILES = {
  note: { filename: 'passwords.txt', contentType: 'text/plain; charset=utf-8', template: 'note.txt.hbs' },
  ini: { filename: 'portal.ini', contentType: 'text/plain; charset=utf-8', template: 'config.ini.hbs' },
  csv: { filename: 'passwords-export.csv', contentType: 'text/csv; charset=utf-8', template: 'export.csv.hbs' },
  rdp: { filename: 'remote-desktop.rdp', contentType: 'application/x-rdp', template: 'connection.rdp.hbs' },
} as const;

const HTML_HEADERS = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'SAMEORIGIN' };

function loginPage(t: Token<CredentialsParams>, status: number, error?: string, username?: string): HttpReply {
  return { status, headers: HTML_HEADERS, body: page(t, 'login', { error, username }) };
}

function basicChallenge(t: Token<CredentialsParams>): HttpReply {
  const realm = (t.params.title ?? LOOKS[t.params.look as Look].title).replace(/"/g, '');
  return { status: 401, headers: { ...HTML_HEADERS, 'www-authenticate': `Basic realm="${realm}"` }, body: page(t, 'login', { error: 'Authentication required.' }) };
}

function describe(req: HttpRequestInfo, t: Token<CredentialsParams>): HitFacts {
  const a = attempt(req);
  if (!a) return { details: { portal: 'login-page', method: req.method } };
  if (matches(a, t)) {
    return { credential: planted(t).username, details: { portal: 'credential-use', via: a.via, outcome: t.params.onSuccess === 'mfa' ? 'mfa-pending' : 'login-failed' } };
  }
  const usernameMatched = a.username.toLowerCase() === planted(t).username.toLowerCase();
  if (a.password === planted(t).password) {
    // Our password with another user name: whoever sends it read the file (spraying a found
    // password), so this is a full alert, though not use of the planted account.
    return { details: { portal: 'planted-password-other-user', via: a.via, username: clipText(a.username, 128), usernameMatched, passwordMatched: true } };
  }
  return {
    classification: 'probe',
    details: { portal: 'wrong-credentials', via: a.via, username: clipText(a.username, 128), usernameMatched, passwordMatched: false, password: maskedPassword(a.password, t.id) },
  };
}

/** What a portal hit means: the file was found (the portal visited), the planted pair used, the planted password sprayed, or a guess. */
function explain(hit: StoredHit, t: Decoy<CredentialsParams>): HitMeaning {
  const portal = `the ${t.params.title ?? LOOKS[t.params.look as Look].system} portal`;
  const via = detail(hit.details, 'via') === 'basic' ? ' with HTTP basic auth' : '';
  const typed = detail(hit.details, 'username');
  switch (detail(hit.details, 'portal')) {
    case 'credential-use': {
      const outcome = detail(hit.details, 'outcome') === 'mfa-pending' ? 'MFA prompt shown' : 'sign-in refused';
      return { action: `signed in to ${portal} as ${hit.credential ?? planted(t).username}${via}; ${outcome}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078'] };
    }
    case 'planted-password-other-user':
      return { action: `tried the planted password on ${portal} with user name ${typed ?? '?'}${via}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1110.003'], user: typed };
    case 'wrong-credentials':
      return { action: `tried to sign in to ${portal} as ${typed ?? '?'} with a wrong password${via}`, evidence: 'credential-found', techniques: ['T1110.001'], user: typed };
    default:
      return { action: `opened the sign-in page of ${portal} in ${describeClient(hit.userAgent) ?? 'a client without a user agent'}`, evidence: 'credential-found', techniques: ['T1552.001'] };
  }
}

function respond(req: HttpRequestInfo, t: Token<CredentialsParams>): HttpReply {
  const a = attempt(req);
  if (!a) {
    if (req.method === 'POST') return loginPage(t, 200, 'Please enter your user name and password.');
    return loginPage(t, 200);
  }
  const ok = matches(a, t);
  if (a.via === 'basic') return basicChallenge(t);
  if (ok && t.params.onSuccess === 'mfa') {
    return { status: 200, headers: HTML_HEADERS, body: page(t, 'mfa', { username: planted(t).username, number: randomInt(10, 100) }) };
  }
  return loginPage(t, 200, 'Invalid user name or password.', a.username.slice(0, 128));
}

/** Credentials file + honey login portal: use of the planted pair is a credential-use hit (T1078). */
export const credentials = defineKind<CredentialsParams>({
  id: 'credentials',
  label: 'Credentials file + login portal',
  description:
    'A file holding a user name, password and the URL of an internal-looking login portal. Visiting the portal is recorded; signing in with the planted pair is a credential-use alert.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1021'],
  params,
  example: { format: 'note', look: 'vpn', brand: 'Northwind IT' },
  internalParams: ['portalPath'],
  generated: ['username', 'password'],
  searchTerms: (t) => [t.params.username ?? ''],
  create(_ctx, _id, p) {
    const look = LOOKS[p.look as Look];
    const portalPath = fillRoute(choose(look.paths));
    const username = p.username ?? generateUsername();
    const password = p.password ?? generatePassword();
    return { params: { ...p, username, password, portalPath }, urlPath: portalPath, lookupKey: pairKey(username, password) };
  },
  artifact(ctx, t) {
    return {
      url: portalUrl(ctx, t),
      filename: FILES[t.params.format].filename,
      contentType: FILES[t.params.format].contentType,
      hint: `Plant the file where an intruder looks for passwords (home folder, admin share, desktop). User: ${t.params.username ?? ''}.`,
    };
  },
  render(ctx, t) {
    const url = portalUrl(ctx, t);
    const { username, password } = planted(t);
    const look = LOOKS[t.params.look as Look];
    const rotated = backdate(20, 200).toISOString().slice(0, 10);
    const data = {
      url, username, password, rotated, system: `${t.params.brand} ${look.system}`, owner: choose(['IT Ops', 'Infra team', 'Service desk', 'Platform team']),
      csvName: csv(`${t.params.brand} ${look.system}`), csvUrl: csv(url), csvUser: csv(username), csvPassword: csv(password), csvNote: csv(`rotated ${rotated}`),
      rdpHost: rdpHost(new URL(url).hostname), gatewayHost: new URL(url).host,
    };
    const file = FILES[t.params.format];
    return { filename: file.filename, contentType: file.contentType, body: Buffer.from(renderTemplate(`tokens/credentials/${file.template}`, data, 'text')) };
  },
  explain,
  http: {
    lookupKey(req) {
      const a = attempt(req);
      return a ? pairKey(a.username, a.password) : null;
    },
    describe,
    respond,
  },
});


/**
 * The session host an .rdp file names: a terminal server beside the portal's host, or the
 * address itself when PUBLIC_URL is an IP address (no one names a host `ts1.10.0.0.5`).
 */
function rdpHost(portalHost: string): string {
  const bare = portalHost.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0) return bare;
  return `${choose(['ts', 'rds', 'rdsh', 'term'])}${randomInt(1, 9)}.${portalHost}`;
}

/** CSV field: quoted when needed, and a leading formula character neutralised. */
function csv(value: string): string {
  const v = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
