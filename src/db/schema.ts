import { sql } from 'drizzle-orm';
import { blob, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * The data model (DESIGN section 3). Times are stored as epoch milliseconds; JSON columns
 * hold small, size-bounded documents. `drizzle-kit generate` turns this file into the
 * migrations under `drizzle/sqlite`, which are applied at start-up.
 */

const createdAt = () =>
  integer('created_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch('subsec') * 1000)`);

export const tokens = sqliteTable(
  'tokens',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    location: text('location'),
    plantedHost: text('planted_host'),
    tags: text('tags', { mode: 'json' }).$type<string[]>().notNull().default([]),
    params: text('params', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    lookupKey: text('lookup_key'),
    /** Path (and query) of the token's URL under PUBLIC_URL, for kinds that have one. */
    urlPath: text('url_path'),
    /**
     * The DNS label a token's host name carries right below DNS_ZONE (`<label>.<zone>`), for kinds
     * fired by lookups: random, of varied length and alphabet, looked up through its unique index.
     */
    hostLabel: text('host_label'),
    alertEmails: text('alert_emails', { mode: 'json' }).$type<string[]>().notNull().default([]),
    webhooks: text('webhooks', { mode: 'json' }).$type<string[]>().notNull().default([]),
    ignoreCidrs: text('ignore_cidrs', { mode: 'json' }).$type<string[]>().notNull().default([]),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
    createdBy: text('created_by'),
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
    lastHitAt: integer('last_hit_at', { mode: 'timestamp_ms' }),
    hitCount: integer('hit_count').notNull().default(0),
    /** Rotation policy: a new artifact is due this many days after this generation was made (null: no policy). */
    rotateEveryDays: integer('rotate_every_days'),
    /** A scheduled check (an expected-activity rule) should touch this decoy at least this often; null: not watched. */
    expectSeenEveryDays: integer('expect_seen_every_days'),
    /** The file name the artifact was planted under in `location` (the CLI records it), for re-planting and verification. */
    plantedFile: text('planted_file'),
    /** 1 for a token as created; each rotation makes a new token one generation higher. */
    generation: integer('generation').notNull().default(1),
    /** The token this one replaced (the previous generation). */
    rotatedFrom: text('rotated_from'),
    /** Set when this generation was rotated: the token that replaced it. Its artifacts still fire, as stale. */
    rotatedTo: text('rotated_to'),
    rotatedAt: integer('rotated_at', { mode: 'timestamp_ms' }),
    /** Last check of the planted file (`honeytrail verify`), and when it was found missing (null: present or never checked). */
    verifiedAt: integer('verified_at', { mode: 'timestamp_ms' }),
    missingAt: integer('missing_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    uniqueIndex('tokens_lookup_key_uq').on(t.lookupKey),
    // The public listener finds a token by its URL path (or a prefix of it) and the DNS channel by its host label.
    uniqueIndex('tokens_url_path_uq').on(t.urlPath),
    uniqueIndex('tokens_host_label_uq').on(t.hostLabel),
    // Partial indexes over live tokens serve the list pages (order, filter and count) at 100k tokens.
    index('tokens_live_idx').on(t.createdAt, t.id).where(sql`${t.deletedAt} is null`),
    index('tokens_kind_live_idx').on(t.kind, t.createdAt, t.id).where(sql`${t.deletedAt} is null`),
    index('tokens_location_idx').on(t.location),
  ],
);

/** `expected`: an expected-activity rule covers it (stored and shown with the rule, not paged). */
export const CLASSIFICATIONS = ['alert', 'ignored', 'scanner', 'echo', 'probe', 'noise', 'expected'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];
/** How a hit arrived: the public web listener, DNS, SMTP, SSH, a honey database wire protocol (PostgreSQL, MySQL), or a WireGuard handshake. */
export const CHANNELS = ['http', 'dns', 'smtp', 'ssh', 'pgwire', 'mysql', 'wireguard'] as const;
export type Channel = (typeof CHANNELS)[number];

export const hits = sqliteTable(
  'hits',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tokenId: text('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<Channel>().notNull(),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    sourceIp: text('source_ip'),
    sourcePort: integer('source_port'),
    forwardedFor: text('forwarded_for'),
    userAgent: text('user_agent'),
    referer: text('referer'),
    method: text('method'),
    path: text('path'),
    query: text('query'),
    qname: text('qname'),
    qtype: text('qtype'),
    mailFrom: text('mail_from'),
    mailTo: text('mail_to'),
    mailSubject: text('mail_subject'),
    actorUser: text('actor_user'),
    actorHost: text('actor_host'),
    actorDomain: text('actor_domain'),
    credential: text('credential'),
    headers: text('headers', { mode: 'json' }).$type<Record<string, string>>(),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
    classification: text('classification').$type<Classification>().notNull().default('alert'),
    incidentId: integer('incident_id').references(() => incidents.id, { onDelete: 'set null' }),
    repeatCount: integer('repeat_count').notNull().default(1),
    lastAt: integer('last_at', { mode: 'timestamp_ms' }),
    /** Threat-intel labels (e.g. an APT group) whose indicators matched this hit's source. */
    intel: text('intel', { mode: 'json' }).$type<string[]>(),
    /** The expected-activity rule that covered this hit (classification `expected`). */
    expectedRuleId: integer('expected_rule_id'),
  },
  (t) => [
    index('hits_token_idx').on(t.tokenId, t.id),
    // What each expected-activity rule absorbed lately, without reading other hits.
    index('hits_expected_idx').on(t.expectedRuleId, t.at).where(sql`${t.expectedRuleId} is not null`),
    index('hits_at_idx').on(t.at),
    index('hits_incident_idx').on(t.incidentId),
    // Hits recorded but not yet correlated into a trail (the correlator's work queue; usually empty).
    index('hits_uncorrelated_idx').on(t.id).where(sql`${t.incidentId} is null`),
    // "Has this trail used a credential?" without walking the trail (credential hits are few).
    index('hits_credential_idx').on(t.incidentId).where(sql`${t.credential} is not null`),
  ],
);

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const INCIDENT_STATUSES = ['open', 'acknowledged', 'closed'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const incidents = sqliteTable(
  'incidents',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    actorKey: text('actor_key').notNull(),
    actorLabel: text('actor_label'),
    firstAt: integer('first_at', { mode: 'timestamp_ms' }).notNull(),
    lastAt: integer('last_at', { mode: 'timestamp_ms' }).notNull(),
    hitCount: integer('hit_count').notNull().default(0),
    tokenCount: integer('token_count').notNull().default(0),
    locationCount: integer('location_count').notNull().default(0),
    hostCount: integer('host_count').notNull().default(0),
    severity: text('severity').$type<Severity>().notNull().default('low'),
    status: text('status').$type<IncidentStatus>().notNull().default('open'),
    lateral: integer('lateral', { mode: 'boolean' }).notNull().default(false),
    techniques: text('techniques', { mode: 'json' }).$type<string[]>().notNull().default([]),
    summary: text('summary'),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
    /** Set when this intrusion turned out to be part of another one: its hits and entities moved there. */
    mergedInto: integer('merged_into'),
    /** Why the severity is what it is: one entry per piece of evidence, deduplicated (see hits/intrusions.ts). */
    reasons: text('reasons', { mode: 'json' }).$type<IncidentReason[]>().notNull().default([]),
    /** Machines (hosts or bare addresses) the intrusion was seen acting from, including a host a stolen credential came from. */
    machineCount: integer('machine_count').notNull().default(0),
    /** The grouped-alert thread this intrusion's routine alerts go to (a flood on one decoy), or null for its own thread. */
    alertGroup: text('alert_group'),
  },
  (t) => [index('incidents_actor_idx').on(t.actorKey, t.lastAt), index('incidents_status_idx').on(t.status, t.lastAt), index('incidents_updated_idx').on(t.updatedAt, t.id)],
);

/** One piece of evidence behind an incident's severity, e.g. a hop or the use of a planted credential. */
export interface IncidentReason {
  /** What kind of evidence: `touch`, `credential-found`, `credential-used`, `hop`, `intel`, `external`, `merge` … */
  code: string;
  /** The evidence in words, naming what and where. */
  text: string;
  at: number;
  hitId: number | null;
  /** What makes two reasons the same (the decoy, the credential, the hop); the text when absent. */
  key?: string;
}

export const ENTITY_KINDS = ['host', 'ip', 'user', 'via', 'relay', 'decoy', 'place', 'planted', 'cred', 'hop'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

/**
 * The evidence graph of an intrusion (DESIGN section 5): every entity its hits named (machines,
 * user identities, relays, decoys, places, planted hosts, credentials) and the hops between
 * machines, one row per (incident, entity). Hits link into one intrusion through the entities
 * they share within TRAIL_WINDOW (index entities_key_idx).
 */
export const incidentEntities = sqliteTable(
  'incident_entities',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    incidentId: integer('incident_id')
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').$type<EntityKind>().notNull(),
    label: text('label').notNull(),
    /** Named by the attacker (decoded from a lookup, a mail header, a typed user name) rather than observed on the network. */
    claimed: integer('claimed', { mode: 'boolean' }).notNull().default(false),
    firstAt: integer('first_at', { mode: 'timestamp_ms' }).notNull(),
    lastAt: integer('last_at', { mode: 'timestamp_ms' }).notNull(),
    firstHitId: integer('first_hit_id'),
    hits: integer('hits').notNull().default(1),
    data: text('data', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [uniqueIndex('entities_incident_key_uq').on(t.incidentId, t.key), index('entities_key_idx').on(t.key, t.firstAt)],
);

export const ALERT_STATUSES = ['pending', 'sending', 'sent', 'failed', 'dead'] as const;
/** first: an intrusion's first page; digest: later hits folded; group: many intrusions on one decoy or relay, or past the per-minute cap; test: a drill. */
export const ALERT_KINDS = ['first', 'digest', 'group', 'test'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const alerts = sqliteTable(
  'alerts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    incidentId: integer('incident_id').references(() => incidents.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<'email' | 'webhook'>().notNull(),
    target: text('target').notNull(),
    kind: text('kind').$type<AlertKind>().notNull().default('first'),
    status: text('status').$type<AlertStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at', { mode: 'timestamp_ms' }).notNull(),
    claimedBy: text('claimed_by'),
    claimedUntil: integer('claimed_until', { mode: 'timestamp_ms' }),
    lastError: text('last_error'),
    sentAt: integer('sent_at', { mode: 'timestamp_ms' }),
    idempotencyKey: text('idempotency_key').notNull(),
    payload: text('payload', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    /** The conversation the row belongs to: `incident:<id>` or a grouped alert `group:<key>`; one mail thread per thread and target. */
    thread: text('thread'),
  },
  (t) => [
    uniqueIndex('alerts_idem_uq').on(t.idempotencyKey),
    index('alerts_due_idx').on(t.status, t.nextAttemptAt),
    index('alerts_incident_idx').on(t.incidentId),
    index('alerts_thread_idx').on(t.thread, t.channel, t.target, t.id),
    index('alerts_kind_created_idx').on(t.kind, t.createdAt),
  ],
);

/** Admin console roles, least to most: read only; incidents, tokens and the network map; everything. */
export const USER_ROLES = ['viewer', 'responder', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  role: text('role').$type<UserRole>().notNull().default('admin'),
  createdAt: createdAt(),
  lastLoginAt: integer('last_login_at', { mode: 'timestamp_ms' }),
  disabledAt: integer('disabled_at', { mode: 'timestamp_ms' }),
  /** Base32 TOTP secret (RFC 6238) once enrolled; null without a second factor. */
  totpSecret: text('totp_secret'),
  totpEnabledAt: integer('totp_enabled_at', { mode: 'timestamp_ms' }),
  /** The last TOTP time step accepted: a code is good once (no replay within its window). */
  totpLastStep: integer('totp_last_step'),
  /** sha256 of each unused recovery code. */
  recoveryCodes: text('recovery_codes', { mode: 'json' }).$type<string[]>().notNull().default([]),
  /** This account must sign in with a second factor (MFA_REQUIRED makes it so for everyone). */
  mfaRequired: integer('mfa_required', { mode: 'boolean' }).notNull().default(false),
  passwordChangedAt: integer('password_changed_at', { mode: 'timestamp_ms' }),
});

export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(), // sha256 of the cookie value; the value itself is never stored
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: createdAt(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    /** Password checked, second factor not yet: the session opens nothing but the code page. */
    mfaPending: integer('mfa_pending', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const apiKeys = sqliteTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(), // first characters, to recognise a key in the UI
  keyHash: text('key_hash').notNull().unique(), // sha256 hex; keys are 160+ bit random, so a fast hash is enough
  createdAt: createdAt(),
  createdBy: text('created_by'),
  lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
  revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  /** Permissions of the policy table (src/access.ts) this key holds; `*` is every one (keys made before scopes). */
  scopes: text('scopes', { mode: 'json' }).$type<string[]>().notNull().default(['*']),
  /** After this the key is refused; null never expires. */
  expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
});

/**
 * Exact search terms of a token that are not its lookup key: a portal user name, a mailbox and
 * its address, an AWS key id, a service account (each kind's `searchTerms`), lower-cased. The
 * tokens page finds a token by any of them through `token_terms_term_idx`.
 */
export const tokenTerms = sqliteTable(
  'token_terms',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tokenId: text('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    term: text('term').notNull(),
  },
  (t) => [uniqueIndex('token_terms_uq').on(t.term, t.tokenId), index('token_terms_token_idx').on(t.tokenId)],
);

/**
 * The file a token was made from, for kinds made from an upload (own-document): stored with the
 * token and nowhere else, read only when its artifact is downloaded (never on the hit path, so
 * token rows stay small), and deleted with the token.
 */
export const tokenFiles = sqliteTable('token_files', {
  tokenId: text('token_id')
    .primaryKey()
    .references(() => tokens.id, { onDelete: 'cascade' }),
  body: blob('body', { mode: 'buffer' }).$type<Buffer>().notNull(),
  createdAt: createdAt(),
});

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    ip: text('ip'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('audit_at_idx').on(t.at)],
);

export const assets = sqliteTable(
  'assets',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    cidr: text('cidr'),
    hostname: text('hostname'),
    label: text('label').notNull(),
    segment: text('segment'),
    criticality: text('criticality').$type<'low' | 'medium' | 'high' | 'critical'>().notNull().default('medium'),
    createdAt: createdAt(),
  },
  (t) => [index('assets_cidr_idx').on(t.cidr), index('assets_hostname_idx').on(t.hostname)],
);

export const EXPECTED_EVIDENCE = ['touch', 'credential-found'] as const;
export type ExpectedEvidence = (typeof EXPECTED_EVIDENCE)[number];

/**
 * Expected activity: who may touch which decoys, when, without paging (a nightly backup, an
 * antivirus scan, a purple-team drill). Matching hits are stored as `expected` with the rule;
 * anything else the rule does not cover (a credential used, a decoy out of scope) still alerts.
 */
export const expectedRules = sqliteTable(
  'expected_rules',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    /** Source addresses or CIDRs (the machine's address; the resolver's or mail server's for relayed hits). */
    sources: text('sources', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Host names, as the asset map names the source (or as reported, when `sources` also matched). */
    hosts: text('hosts', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Account names the hit reports (only together with sources or hosts). */
    users: text('users', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Which decoys: location globs (`\\FS01\*`), `kind:NAME`, `token:ID`, `planted:HOST`, or `*`. */
    decoys: text('decoys', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** When, in the working-hours syntax (`daily 01:00-04:00 Europe/Berlin`); null: any time. */
    schedule: text('schedule'),
    /** What the rule may absorb: touches, and planted credentials found if listed; never a credential used. */
    evidence: text('evidence', { mode: 'json' }).$type<ExpectedEvidence[]>().notNull().default(['touch']),
    tag: text('tag'),
    note: text('note'),
    /** `api` (UI and API) or `file` (EXPECTED_ACTIVITY_FILE; read-only elsewhere). */
    managedBy: text('managed_by').$type<'api' | 'file'>().notNull().default('api'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch('subsec') * 1000)`),
  },
  (t) => [uniqueIndex('expected_rules_name_uq').on(t.name)],
);

/** A purple-team drill run (src/drills/run.ts): the scenario, when, and its report (decoys fired, alerts sent, latencies). */
export const drillRuns = sqliteTable(
  'drill_runs',
  {
    id: text('id').primaryKey(),
    scenario: text('scenario').notNull(),
    /** `running`, then `passed` (every decoy fired and was correlated) or `failed`. */
    status: text('status').$type<DrillStatus>().notNull().default('running'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
    createdBy: text('created_by'),
    report: text('report', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('drill_runs_started_idx').on(t.startedAt)],
);
export const DRILL_STATUSES = ['running', 'passed', 'failed'] as const;
export type DrillStatus = (typeof DRILL_STATUSES)[number];

export const INTEL_TYPES = ['ip', 'cidr', 'domain', 'email'] as const;
export type IntelType = (typeof INTEL_TYPES)[number];
/** `threat`: a hit from it carries the label and raises severity; `scanner`: a service that fetches links (its hits are `scanner`). */
export const INTEL_PURPOSES = ['threat', 'scanner'] as const;
export type IntelPurpose = (typeof INTEL_PURPOSES)[number];

/** Imported threat-intel indicators: a hit from a matching source carries the label. */
export const intelIndicators = sqliteTable(
  'intel_indicators',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    type: text('type').$type<IntelType>().notNull(),
    value: text('value').notNull(),
    label: text('label').notNull(),
    source: text('source'),
    createdAt: createdAt(),
    purpose: text('purpose').$type<IntelPurpose>().notNull().default('threat'),
  },
  (t) => [uniqueIndex('intel_uq').on(t.type, t.value, t.label)],
);

export const FEED_KINDS = ['taxii', 'misp'] as const;
export type FeedKind = (typeof FEED_KINDS)[number];
export const FEED_AUTHS = ['none', 'basic', 'bearer'] as const;
export type FeedAuth = (typeof FEED_AUTHS)[number];

/**
 * Subscribed threat-intel feeds (TAXII 2.1 collections, MISP feeds): pulled on their interval by
 * the back-office process; their indicators are `intel_indicators` with source `feed:<id>`.
 * `authSecret` (password or bearer token) is write-only: never returned by the API or the UI.
 */
export const intelFeeds = sqliteTable(
  'intel_feeds',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    kind: text('kind').$type<FeedKind>().notNull(),
    /** TAXII: the discovery URL (…/taxii2/) or an API root; MISP: the feed's base URL (where manifest.json is). */
    url: text('url').notNull(),
    /** TAXII: the collection's id or title. */
    collection: text('collection'),
    label: text('label').notNull(),
    intervalMinutes: integer('interval_minutes').notNull().default(60),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    authType: text('auth_type').$type<FeedAuth>().notNull().default('none'),
    authUser: text('auth_user'),
    authSecret: text('auth_secret'),
    /** TAXII: the `added_after` cursor (X-TAXII-Date-Added-Last of the last page); MISP: event uuid -> timestamp seen. */
    cursor: text('cursor', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
    nextPullAt: integer('next_pull_at', { mode: 'timestamp_ms' }).notNull(),
    claimedBy: text('claimed_by'),
    claimedUntil: integer('claimed_until', { mode: 'timestamp_ms' }),
    lastPullAt: integer('last_pull_at', { mode: 'timestamp_ms' }),
    lastSuccessAt: integer('last_success_at', { mode: 'timestamp_ms' }),
    lastError: text('last_error'),
    /** Indicators the feed holds now, and what the last pull added and removed. */
    indicatorCount: integer('indicator_count').notNull().default(0),
    lastAdded: integer('last_added').notNull().default(0),
    lastRemoved: integer('last_removed').notNull().default(0),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
  },
  (t) => [uniqueIndex('intel_feeds_name_uq').on(t.name), index('intel_feeds_due_idx').on(t.nextPullAt)],
);

/** What each feed currently says, per object (a STIX object id, a MISP event uuid): the source of truth for its indicators. */
export const intelFeedItems = sqliteTable(
  'intel_feed_items',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    feedId: integer('feed_id')
      .notNull()
      .references(() => intelFeeds.id, { onDelete: 'cascade' }),
    ref: text('ref').notNull(),
    type: text('type').$type<IntelType>().notNull(),
    value: text('value').notNull(),
    /** When the feed said the indicator stops being valid (STIX valid_until); null: while the feed lists it. */
    validUntil: integer('valid_until', { mode: 'timestamp_ms' }),
  },
  (t) => [index('intel_feed_items_ref_idx').on(t.feedId, t.ref)],
);

/** Small key/value store for instance state (first-run setup, schema-independent flags). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value', { mode: 'json' }).$type<unknown>(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
});

export type TokenRow = typeof tokens.$inferSelect;
export type NewTokenRow = typeof tokens.$inferInsert;
export type HitRow = typeof hits.$inferSelect;
export type NewHitRow = typeof hits.$inferInsert;
export type IncidentRow = typeof incidents.$inferSelect;
export type AlertRow = typeof alerts.$inferSelect;
export type AssetRow = typeof assets.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type IntelRow = typeof intelIndicators.$inferSelect;
export type ExpectedRuleRow = typeof expectedRules.$inferSelect;
export type DrillRunRow = typeof drillRuns.$inferSelect;
export type IntelFeedRow = typeof intelFeeds.$inferSelect;
export type NewIntelFeedRow = typeof intelFeeds.$inferInsert;
export type EntityRow = typeof incidentEntities.$inferSelect;
export type TokenTermRow = typeof tokenTerms.$inferSelect;
