import { ConfigError } from './env.ts';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { validateTrust } from './channels/proxy.ts';
import { CLASSIFICATIONS } from './db/schema.ts';
import { isPostgresUrl } from './db/url.ts';
import { parseSegmentHours, parseWorkingHours } from './hits/working-hours.ts';
import { isCidr } from './net.ts';

/** A string a parser accepts; when it throws, its own words say what is wrong. */
const parsedBy = (parse: (v: string) => unknown) =>
  z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      try {
        parse(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : 'is not valid' });
      }
    });

/**
 * Every setting Honeytrail reads, parsed once at boot from the environment.
 * Nothing outside this file reads `process.env`; `.env.example` documents each entry
 * and a test keeps the two in step.
 */

const port = z.coerce.number().int().min(0, 'must be 0-65535').max(65535, 'must be 0-65535');
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'must be true or false' })
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const httpUrl = z
  .string()
  .url('must be a URL such as https://files.example.com')
  .refine((v) => /^https?:\/\//i.test(v), 'must start with http:// or https://')
  .transform((v) => v.replace(/\/+$/, ''));
const dnsName = z
  .string()
  .toLowerCase()
  .regex(/^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a DNS name such as t.example.com');
const size = z
  .string()
  .regex(/^\d{1,12}\s?(B|KB|MB|GB)?$/i, 'must be a size such as 512KB, 4MB or 1GB (0 turns it off)')
  .transform(parseSize);
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)?$/, 'must be a duration such as 30s, 15m, 24h or 7d')
  .transform(parseDuration);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().min(1).default('file:./data/honeytrail.db'),
  SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATA_DIR: z.string().min(1).default('./data'),

  PUBLIC_ENABLED: bool.default(true),
  PUBLIC_HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_PORT: port.default(8080),
  PUBLIC_URL: httpUrl.optional(),
  PUBLIC_SERVER_HEADER: z.string().max(100).default('nginx'),
  PUBLIC_RATE_LIMIT: z.coerce.number().int().min(0).default(50),
  URL_PATH_WORDS: list.optional(),
  URL_FILE_NAMES: list.optional(),
  /** Largest file an admin may upload to be beaconed (own-document); bigger uploads get 413 and nothing is kept. */
  UPLOAD_MAX_BYTES: z.coerce.number().int().min(1024, 'must be at least 1024').max(200 * 1024 * 1024, 'must be at most 209715200').default(20 * 1024 * 1024),
  DECOY_ORGANISATION: z.string().trim().min(2, 'must name a company').max(100).regex(/^[^\u0000-\u001f<>]+$/, 'must be plain text on one line').optional(),

  ADMIN_ENABLED: bool.default(true),
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  ADMIN_PORT: port.default(3000),
  ADMIN_URL: httpUrl.optional(),
  HONEYTRAIL_API_KEY: z.string().min(24, 'must be at least 24 characters (use a long random value)').optional(),
  METRICS_TOKEN: z.string().min(24, 'must be at least 24 characters (use a long random value)').optional(),
  ADMIN_EMAIL: z.string().trim().toLowerCase().email('must be an email address').optional(),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
  MFA_REQUIRED: bool.default(false),
  TRUST_PROXY: z
    .string()
    .default('false')
    .superRefine((v, ctx) => {
      const problem = validateTrust(v);
      if (problem) ctx.addIssue({ code: 'custom', message: `must be false, true, a hop count, or proxy addresses/CIDRs (${problem})` });
    }),

  DNS_ZONE: dnsName.default('honeytrail.localhost'),
  DNS_ENABLED: bool.default(true),
  DNS_HOST: z.string().min(1).default('0.0.0.0'),
  DNS_PORT: port.default(5353),
  DNS_ANSWER_IPV4: z.string().refine((v) => isIPv4(v), 'must be an IPv4 address').optional(),
  DNS_ANSWER_IPV6: z.string().refine((v) => isIPv6(v), 'must be an IPv6 address').optional(),
  DNS_NS: list.pipe(z.array(dnsName).min(1, 'must name at least one host').max(8)).optional(),
  DNS_HOSTMASTER: z.string().email('must be an email address such as hostmaster@corp.example').optional(),
  DNS_RATE_LIMIT: z.coerce.number().int().min(0).default(100),
  // Processes answering DNS (node:cluster, one shared socket); more than one needs PostgreSQL (checked below).
  DNS_PROCESSES: z.coerce.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64').default(1),
  MAIL_DOMAIN: dnsName.optional(),
  SMTP_ENABLED: bool.default(true),
  SMTP_HOST: z.string().min(1).default('0.0.0.0'),
  SMTP_PORT: port.default(2525),
  SMTP_HOSTNAME: dnsName.optional(),
  SMTP_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024, 'must be at least 1024').max(100 * 1024 * 1024, 'must be at most 104857600').default(10 * 1024 * 1024),
  SMTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(20),
  SMTP_IDLE_TIMEOUT: duration.default(60_000),
  SMTP_SESSION_TIMEOUT: duration.default(300_000),
  SSH_ENABLED: bool.default(true),
  SSH_HOST: z.string().min(1).default('0.0.0.0'),
  SSH_PORT: port.default(2222),
  SSH_PUBLIC_HOST: z.string().trim().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'must be a host name or IP address').optional(),
  SSH_PUBLIC_PORT: port.optional(),
  SSH_VERSION: z.string().regex(/^[\x21-\x2c\x2e-\x7e][\x20-\x2c\x2e-\x7e]{0,200}$/, 'must be printable ASCII without - or a leading space, e.g. OpenSSH_9.2p1 Debian-2+deb12u7').default('OpenSSH_9.2p1 Debian-2+deb12u7'),
  SSH_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(100),
  SSH_MAX_PER_SOURCE: z.coerce.number().int().min(1).max(1000).default(10),
  SSH_LOGIN_GRACE: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(120_000),
  PGWIRE_ENABLED: bool.default(true),
  PGWIRE_HOST: z.string().min(1).default('0.0.0.0'),
  PGWIRE_PORT: port.default(5433),
  MYSQL_ENABLED: bool.default(true),
  MYSQL_HOST: z.string().min(1).default('0.0.0.0'),
  MYSQL_PORT: port.default(3307),
  WIREGUARD_ENABLED: bool.default(true),
  WIREGUARD_HOST: z.string().min(1).default('0.0.0.0'),
  WIREGUARD_PORT: port.default(51820),
  WIREGUARD_RATE_LIMIT: z.coerce.number().int().min(1).max(10_000).default(5),
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be smtp://user:pass@host:port or smtps://…').optional(),
  ALERT_FROM: z.string().min(3).default('Honeytrail <honeytrail@localhost>'),
  ALERT_TO: list.default([]),
  TRAIL_WINDOW: duration.default(24 * 3600 * 1000),
  ALERT_DIGEST_SECONDS: z.coerce.number().int().min(0).default(300),
  ALERT_GROUP_AFTER: z.coerce.number().int().min(1, 'must be at least 1').max(10_000).default(3),
  WORKING_HOURS: parsedBy(parseWorkingHours).optional(),
  WORKING_HOURS_SEGMENTS: parsedBy(parseSegmentHours).optional(),
  NOVELTY_DAYS: z.coerce.number().int().min(1, 'must be at least 1').max(3650).default(30),
  EXPECTED_ACTIVITY_FILE: z.string().trim().min(1).optional(),
  ALERT_GROUP_WINDOW: duration.default(10 * 60_000),
  ALERT_FIRST_PER_MINUTE: z.coerce.number().int().min(1, 'must be at least 1').max(100_000).default(20),
  FLOOD_THRESHOLD: z.coerce.number().int().min(1, 'must be at least 1').max(100_000).default(20),
  FLOOD_WINDOW: duration.default(60_000),
  FLOOD_ACTION_ROWS: z.coerce.number().int().min(1, 'must be at least 1').max(100_000).default(20),
  HIT_SOURCE_ROWS: z.coerce.number().int().min(1, 'must be at least 1').max(1_000_000).default(200),
  HIT_STORAGE_BUDGET: size.default(4 * 1024 * 1024),
  ALERT_WORKER_ENABLED: bool.default(true),
  ALERT_POLL_MS: z.coerce.number().int().min(10, 'must be at least 10').max(600_000).default(1000),
  ALERT_RETRY_BASE_MS: z.coerce.number().int().min(10, 'must be at least 10').max(3_600_000).default(5000),
  ALERT_DEAD_AFTER: duration.default(24 * 3600 * 1000),
  ALERT_LEASE: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(60_000),
  ALERT_ON_CLASSIFICATIONS: list
    .pipe(z.array(z.enum(CLASSIFICATIONS, { message: `must list some of ${CLASSIFICATIONS.join(', ')}` })))
    .default(['alert']),
  IGNORE_CIDRS: list.pipe(z.array(z.string().refine(isCidr, 'must list IP addresses or CIDRs'))).default([]),
  SCANNER_UA_EXTRA: list.default([]),
  DNS_ECHO_WINDOW: duration.default(5 * 60 * 1000),
  WEBHOOK_URLS: list.pipe(z.array(z.string().regex(/^https?:\/\//, 'must list http(s) URLs'))).default([]),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  WEBHOOK_ALLOW_PRIVATE: list.default([]),
  /** Addresses, CIDRs or host names of non-public threat-intel feed servers that may be pulled (the webhook SSRF guard applies to feeds too). */
  INTEL_FEED_ALLOW_PRIVATE: list.default([]),
  /** How often the back-office process looks for feeds due for a pull, in seconds; 0: never (pull through the API only). */
  INTEL_FEEDS_CHECK_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),

  SYSLOG_URL: z
    .string()
    .regex(/^(udp|tcp):\/\/[^/:]+(:\d+)?\/?$|^(udp|tcp):\/\/\[[0-9a-f:]+\](:\d+)?\/?$/i, 'must be udp://host:port or tcp://host:port')
    .optional(),
  SYSLOG_FACILITY: z
    .string()
    .regex(/^(local[0-7]|user|auth|authpriv|daemon|security|syslog|\d{1,2})$/i, 'must be local0-local7, user, auth, daemon … or 0-23')
    .default('local4'),
  SYSLOG_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
});

/** The name of every setting (listeners' `configKeys` are checked against it). */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(schema.shape));

export type Config = Readonly<
  Omit<z.infer<typeof schema>, 'PUBLIC_URL' | 'ADMIN_URL' | 'MAIL_DOMAIN' | 'URL_PATH_WORDS' | 'URL_FILE_NAMES' | 'SSH_PUBLIC_HOST' | 'SSH_PUBLIC_PORT'> & {
    PUBLIC_URL: string;
    ADMIN_URL: string;
    MAIL_DOMAIN: string;
    URL_PATH_WORDS: readonly string[];
    URL_FILE_NAMES: readonly string[];
    /** Host name planted SSH configs connect to: SSH_PUBLIC_HOST, else the host of PUBLIC_URL. */
    SSH_PUBLIC_HOST: string;
    /** Port planted SSH configs connect to: SSH_PUBLIC_PORT (22 behind a port forward), else SSH_PORT. */
    SSH_PUBLIC_PORT: number;
  }
>;

/** Raised when the environment is invalid; `problems` lists every bad variable. */
/** Parse the environment into a frozen config, or throw ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const c = parsed.data;
  if (c.DNS_PROCESSES > 1 && !isPostgresUrl(c.DATABASE_URL)) {
    // Every process would write the one SQLite file, whose single writer they would queue on: measured, two answer no more than one.
    throw new ConfigError([`DNS_PROCESSES: more than one DNS process needs PostgreSQL (DATABASE_URL=postgres://…); on SQLite the processes share one writer and answer no more than one does`]);
  }
  const publicHostForUrl = c.PUBLIC_HOST === '0.0.0.0' || c.PUBLIC_HOST === '::' ? '127.0.0.1' : c.PUBLIC_HOST;
  const publicUrl = c.PUBLIC_URL ?? `http://${publicHostForUrl}:${c.PUBLIC_PORT}`;
  return Object.freeze({
    ...c,
    PUBLIC_URL: publicUrl,
    SSH_PUBLIC_HOST: c.SSH_PUBLIC_HOST ?? new URL(publicUrl).hostname.replace(/^\[|\]$/g, ''),
    SSH_PUBLIC_PORT: c.SSH_PUBLIC_PORT ?? c.SSH_PORT,
    ADMIN_URL: c.ADMIN_URL ?? `http://${c.ADMIN_HOST}:${c.ADMIN_PORT}`,
    MAIL_DOMAIN: c.MAIL_DOMAIN ?? c.DNS_ZONE,
    URL_PATH_WORDS: Object.freeze(c.URL_PATH_WORDS ?? DEFAULT_PATH_WORDS),
    URL_FILE_NAMES: Object.freeze(c.URL_FILE_NAMES ?? DEFAULT_FILE_NAMES),
  });
}

/** Path words used to build plausible token URLs; override with URL_PATH_WORDS. */
export const DEFAULT_PATH_WORDS = [
  'static', 'assets', 'media', 'content', 'files', 'resources', 'public', 'uploads', 'shared',
  'img', 'images', 'cdn', 'cache', 'docs', 'portal', 'intranet', 'dl', 'res', 'data', 'share',
  'reports', 'library', 'common', 'site', 'web', 'app', 'v2', 'archive', 'export', 'x',
] as const;

/** File names used as the last segment of token URLs; override with URL_FILE_NAMES. */
export const DEFAULT_FILE_NAMES = [
  'logo.png', 'spacer.gif', 'pixel.gif', 'header.png', 'banner.jpg', 'footer.gif', 'icon.png',
  'bg.png', 'blank.gif', 'badge.svg', 'track.gif', 'seal.png', 'mark.png', 'brand.png', 'divider.gif',
] as const;

function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v);
  const n = Number(m?.[1] ?? 0);
  const unit = m?.[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return n * factor;
}

function parseSize(v: string): number {
  const m = /^(\d+)\s?(B|KB|MB|GB)?$/i.exec(v);
  const factor = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m?.[2] ?? 'B').toUpperCase() as 'B'] ?? 1;
  return Number(m?.[1] ?? 0) * factor;
}


const cliSchema = z.object({
  HONEYTRAIL_SERVER: httpUrl.default('http://127.0.0.1:3000'),
  HONEYTRAIL_API_KEY: z.string().min(1).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
});

/** Settings of the `honeytrail` CLI when it talks to a server (flags override them). */
export type CliEnv = z.infer<typeof cliSchema>;

export function loadCliEnv(env: Record<string, string | undefined> = process.env): CliEnv {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = cliSchema.safeParse(cleaned);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return parsed.data;
}

export { ConfigError, loadDotEnv, sqlitePath } from './env.ts';
