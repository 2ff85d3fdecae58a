import { randomInt } from 'node:crypto';
import { zipSync } from 'fflate';
import ssh2 from 'ssh2';
import { z } from 'zod';
import { ensureHostKeys, knownHostsLines, sshFingerprint } from '../ssh-host-keys.ts';
import { detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type KindContext, type SshAuthInfo, type StoredHit, type Token } from './kind.ts';
import { choose, clipText, maskedPassword, randomString } from './secrets.ts';
import { renderTemplate } from './templates.ts';

/**
 * An SSH private key (or, in `password` mode, a user and password: the ssh-password decoy) with
 * the `~/.ssh/config` Host entry and known_hosts lines that lead to the SSH listener. Offering
 * the planted key, or logging in with the planted password, is a credential-use hit (T1552.004 /
 * T1552.001, T1078, T1021.004); the listener refuses it like any sshd refuses a key it does not
 * know, so the client prints "Permission denied". Other passwords for the planted user are
 * recorded as probes, masked.
 */

const label = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, . _ or -');
const params = z.object({
  mode: z.enum(['key', 'password']).default('key').describe('key: a private key whose use is the alert; password: a user and password (ssh-password) in an Ansible inventory'),
  keyType: z.enum(['ed25519', 'rsa']).default('ed25519').describe('Private key type (key mode): ed25519 (OpenSSH default) or RSA 3072'),
  alias: label.optional().describe('Host alias in ~/.ssh/config (generated when empty)'),
  user: label.optional().describe('Remote user name (generated when empty)'),
  comment: z.string().trim().regex(/^[A-Za-z0-9._-]{1,32}@[A-Za-z0-9._-]{1,63}$/, 'must be user@host').optional().describe('Key comment, user@host of the machine the key was made on (generated when empty)'),
  password: z.string().regex(/^[\x21-\x7e]{8,64}$/, 'must be 8-64 printable characters without spaces').optional().describe('Planted password (password mode; generated when empty)'),
  hashKnownHosts: z.boolean().default(true).describe('Hash the known_hosts names as Debian does by default (HashKnownHosts yes)'),
  privateKey: z.string().optional().describe('Generated'),
  publicKey: z.string().optional().describe('Generated'),
  fingerprint: z.string().optional().describe('Generated'),
});
type SshParams = z.infer<typeof params>;

const ALIASES = ['bastion', 'jump-prod', 'db-backup', 'deploy-prod', 'git-mirror', 'build01', 'monitoring', 'prod-app1', 'sftp-partner', 'ansible-ctl', 'k8s-admin', 'vault01'];
const USERS = ['deploy', 'ansible', 'backup', 'svc-deploy', 'ci-runner', 'ops', 'jenkins', 'admin', 'sysadm', 'release'];
const LOCAL_USERS = ['jmeyer', 'anovak', 'root', 'deploy', 'ops', 'kschulz', 'tlarsen', 'mrossi', 'jenkins'];
const LOCAL_HOSTS = ['ws-ops-14', 'jenkins01', 'mgmt01', 'build-02', 'admin-pc', 'devbox', 'ansible01', 'lt-0412'];
const WORDS = ['Harbor', 'Falcon', 'Granite', 'Maple', 'Summit', 'Copper', 'Orchid', 'Lantern', 'Willow', 'Atlas'];

/** Lookup key of a planted key: its fingerprint. Of a planted password: the user name (so wrong passwords for it are seen too). */
const keyLookup = (fingerprint: string) => `ssh-key:${fingerprint}`;
const userLookup = (user: string) => `ssh-user:${user.toLowerCase()}`;

function keyFile(p: SshParams): string {
  return `${p.user ?? 'id'}_${p.keyType}`;
}

function files(ctx: KindContext, t: Token<SshParams>): { config: string; knownHosts: string; inventory: string | null } {
  const { SSH_PUBLIC_HOST: hostName, SSH_PUBLIC_PORT: port } = ctx.config;
  const key = t.params.mode === 'key';
  const data = { alias: t.params.alias, hostName, port, user: t.params.user, keyFile: key ? keyFile(t.params) : null };
  const config = renderTemplate('tokens/ssh-key/config.hbs', data, 'text');
  const knownHosts = `${knownHostsLines(ensureHostKeys(ctx.config.DATA_DIR), hostName, port, t.params.hashKnownHosts).join('\n')}\n`;
  const inventory = key
    ? null
    : renderTemplate('tokens/ssh-key/hosts.ini.hbs', {
        ...data,
        password: t.params.password,
        group: (t.params.alias ?? 'hosts').replace(/[^A-Za-z0-9_]/g, '_'),
        owner: choose(['IT Ops', 'Platform team', 'Infra']),
        rotated: new Date(Date.now() - randomInt(20, 200) * 86_400_000).toISOString().slice(0, 10),
      }, 'text');
  return { config, knownHosts, inventory };
}

function describe(auth: SshAuthInfo, t: Token<SshParams>): HitFacts {
  const seen = {
    username: clipText(auth.username, 128),
    clientVersion: auth.clientVersion,
    hassh: auth.hassh,
    kex: auth.kex,
    plantedUser: t.params.user ?? null,
    alias: t.params.alias ?? null,
  };
  if (auth.method === 'publickey' && auth.key && auth.key.fingerprint === t.params.fingerprint) {
    return { credential: t.params.fingerprint ?? null, details: { ssh: 'key-offered', keyAlgo: auth.key.algo, fingerprint: auth.key.fingerprint, ...seen } };
  }
  if (auth.method === 'password' && auth.password === t.params.password && auth.username.toLowerCase() === (t.params.user ?? '').toLowerCase()) {
    return { credential: t.params.user ?? null, details: { ssh: 'password-used', ...seen } };
  }
  // The planted user with another password: probing (a guess, or a password from elsewhere), masked.
  return { classification: 'probe', details: { ssh: 'wrong-password', password: maskedPassword(auth.password ?? '', t.id), ...seen } };
}

function explain(hit: StoredHit, t: Decoy<SshParams>): HitMeaning {
  const client = detail(hit.details, 'clientVersion')?.replace(/^SSH-2\.0-/, '') ?? 'an SSH client';
  const user = detail(hit.details, 'username') ?? t.params.user ?? '?';
  const target = `${t.params.alias ?? 'the decoy host'} over SSH`;
  const asOther = user.toLowerCase() !== (t.params.user ?? '').toLowerCase() ? user : null;
  switch (detail(hit.details, 'ssh')) {
    case 'key-offered':
      return { action: `${client} logged in to ${target} as ${user} with the planted key ${hit.credential ?? t.params.fingerprint ?? ''}; refused`, evidence: 'credential-used', techniques: ['T1552.004', 'T1078', 'T1021.004'], user: asOther };
    case 'password-used':
      return { action: `${client} logged in to ${target} as ${user} with the planted password; refused`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078', 'T1021.004'] };
    default:
      return { action: `${client} tried to log in to ${target} as ${user} with a wrong password`, evidence: 'credential-found', techniques: ['T1110.001', 'T1021.004'], user: asOther };
  }
}

function generateRsa(comment: string): Promise<{ private: string; public: string }> {
  return new Promise((resolve, reject) => {
    ssh2.utils.generateKeyPair('rsa', { bits: 3072, comment }, (err, pair) => (err ? reject(err) : resolve(pair)));
  });
}

/** SSH key (or ssh-password) + ~/.ssh/config + known_hosts, caught by the SSH listener. */
export const sshKey = defineKind<SshParams>({
  id: 'ssh-key',
  label: 'SSH key + ~/.ssh/config',
  description:
    'An OpenSSH private key with its ~/.ssh/config Host entry and known_hosts lines pointing at the SSH listener (or, in password mode, an Ansible inventory with an SSH password). Offering the key or the password is a credential-use alert; the server refuses like any sshd.',
  channels: ['ssh'],
  techniques: ['T1552.004', 'T1078', 'T1021.004'],
  params,
  example: { mode: 'key', keyType: 'ed25519' },
  internalParams: ['privateKey', 'publicKey', 'fingerprint'],
  generated: ['alias', 'user', 'comment', 'password'],
  searchTerms: (t) => [t.params.fingerprint ?? '', t.params.user ?? ''].filter(Boolean),
  async create(_ctx, _id, p) {
    const alias = p.alias ?? choose(ALIASES);
    // A password decoy is found by its user name, which must be unique: those get a number more often (a collision is generated again).
    const user = p.user ?? `${choose(USERS)}${randomInt(p.mode === 'password' ? 5 : 3) < 2 ? '' : randomInt(1, 100)}`;
    if (p.mode === 'password') {
      const password = p.password ?? `${choose(WORDS)}${choose(['!', '#', '%', '*'])}${randomInt(1000, 9999)}${randomString('abcdefghjkmnpqrstuvwxyz', 3)}`;
      return { params: { ...p, alias, user, password }, lookupKey: userLookup(user) };
    }
    const comment = p.comment ?? `${choose(LOCAL_USERS)}@${choose(LOCAL_HOSTS)}`;
    // RSA takes a while to make: off the event loop, so the listeners keep answering meanwhile.
    // ssh2 writes an ed25519 key whose public half starts with a zero byte one byte short (about
    // 1 in 250 keys), which no client reads: such a pair is made again.
    let pair: { private: string; public: string } | undefined;
    let pub: ssh2.ParsedKey | undefined;
    for (let attempt = 0; attempt < 8 && !pub; attempt++) {
      pair = p.keyType === 'rsa' ? await generateRsa(comment) : ssh2.utils.generateKeyPairSync('ed25519', { comment });
      const parsed = ssh2.utils.parseKey(pair.public);
      const one = Array.isArray(parsed) ? parsed[0] : parsed;
      if (one && !(one instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) pub = one;
    }
    if (!pair || !pub) throw new Error('generated SSH key could not be read back');
    const fingerprint = sshFingerprint(pub.getPublicSSH());
    return { params: { ...p, alias, user, comment, privateKey: pair.private, publicKey: pair.public, fingerprint, password: undefined }, lookupKey: keyLookup(fingerprint) };
  },
  artifact(ctx, t) {
    const where = `${t.params.user ?? ''}@${ctx.config.SSH_PUBLIC_HOST}:${ctx.config.SSH_PUBLIC_PORT}`;
    return t.params.mode === 'key'
      ? {
          hostname: ctx.config.SSH_PUBLIC_HOST,
          filename: `ssh-${t.params.alias ?? 'key'}.zip`,
          contentType: 'application/zip',
          hint: `Unzip in a home folder (gives .ssh/${keyFile(t.params)}, its .pub, a config Host "${t.params.alias ?? ''}" and known_hosts), or merge them into the existing files. Key ${t.params.fingerprint ?? ''} for ${where}.`,
        }
      : {
          hostname: ctx.config.SSH_PUBLIC_HOST,
          filename: 'hosts.ini',
          contentType: 'text/plain; charset=utf-8',
          hint: `Plant the Ansible inventory where automation lives; the formats config and known-hosts give the matching ~/.ssh files. Password for ${where}.`,
        };
  },
  formats: ['private-key', 'config', 'known-hosts'],
  render(ctx, t, format) {
    const f = files(ctx, t);
    const text = (filename: string, body: string) => ({ filename, contentType: 'text/plain; charset=utf-8', body: Buffer.from(body) });
    if (format === 'config') return text('config', f.config);
    if (format === 'known-hosts') return text('known_hosts', f.knownHosts);
    if (format === 'private-key' && t.params.privateKey) return text(keyFile(t.params), t.params.privateKey);
    if (f.inventory !== null) return text('hosts.ini', f.inventory);
    const mtime = new Date(Date.now() - randomInt(7, 300) * 86_400_000);
    const name = keyFile(t.params);
    const zip = zipSync(
      {
        [`.ssh/${name}`]: [Buffer.from(t.params.privateKey ?? ''), { mtime }],
        [`.ssh/${name}.pub`]: [Buffer.from(`${t.params.publicKey ?? ''}\n`), { mtime }],
        '.ssh/config': [Buffer.from(f.config), { mtime }],
        '.ssh/known_hosts': [Buffer.from(f.knownHosts), { mtime }],
      },
      { level: 6 },
    );
    return { filename: `ssh-${t.params.alias ?? 'key'}.zip`, contentType: 'application/zip', body: Buffer.from(zip) };
  },
  explain,
  ssh: {
    lookupKey: (auth) => (auth.method === 'publickey' ? (auth.key ? keyLookup(auth.key.fingerprint) : null) : userLookup(auth.username)),
    describe,
  },
});
