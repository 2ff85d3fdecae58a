import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { AlertKind, AlertStatus, Channel, Classification, DrillStatus, EntityKind, ExpectedEvidence, FeedAuth, FeedKind, IncidentReason, IncidentStatus, IntelPurpose, IntelType, Severity, UserRole } from './schema.ts';

/**
 * The same data model as schema.ts for PostgreSQL (`npm run db:generate` writes its
 * migrations to `drizzle/pg`). Tables, columns, nullability, defaults and indexes mirror the
 * SQLite schema one for one, and every row type is identical to its SQLite counterpart, so
 * one set of query functions can serve both (tests/db/schema-equivalence.test.ts holds the
 * two together). PostgreSQL gets its native types where SQLite has none: timestamptz for
 * times (SQLite: epoch ms), jsonb for JSON, boolean, and bigint for ids and counters that a
 * long flood could push past 2^31.
 */

const createdAt = () =>
  timestamp('created_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const tokens = pgTable(
  'tokens',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    location: text('location'),
    plantedHost: text('planted_host'),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    lookupKey: text('lookup_key'),
    /** Path (and query) of the token's URL under PUBLIC_URL, for kinds that have one. */
    urlPath: text('url_path'),
    /**
     * The DNS label a token's host name carries right below DNS_ZONE (`<label>.<zone>`), for kinds
     * fired by lookups: random, of varied length and alphabet, looked up through its unique index.
     */
    hostLabel: text('host_label'),
    alertEmails: jsonb('alert_emails').$type<string[]>().notNull().default([]),
    webhooks: jsonb('webhooks').$type<string[]>().notNull().default([]),
    ignoreCidrs: jsonb('ignore_cidrs').$type<string[]>().notNull().default([]),
    enabled: boolean('enabled').notNull().default(true),
    expiresAt: timestamp('expires_at', { precision: 3, withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { precision: 3, withTimezone: true, mode: 'date' }),
    createdBy: text('created_by'),
    deletedAt: timestamp('deleted_at', { precision: 3, withTimezone: true, mode: 'date' }),
    lastHitAt: timestamp('last_hit_at', { precision: 3, withTimezone: true, mode: 'date' }),
    hitCount: bigint('hit_count', { mode: 'number' }).notNull().default(0),
    rotateEveryDays: integer('rotate_every_days'),
    expectSeenEveryDays: integer('expect_seen_every_days'),
    plantedFile: text('planted_file'),
    generation: integer('generation').notNull().default(1),
    rotatedFrom: text('rotated_from'),
    rotatedTo: text('rotated_to'),
    rotatedAt: timestamp('rotated_at', { precision: 3, withTimezone: true, mode: 'date' }),
    verifiedAt: timestamp('verified_at', { precision: 3, withTimezone: true, mode: 'date' }),
    missingAt: timestamp('missing_at', { precision: 3, withTimezone: true, mode: 'date' }),
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

export const hits = pgTable(
  'hits',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    tokenId: text('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<Channel>().notNull(),
    at: timestamp('at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
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
    headers: jsonb('headers').$type<Record<string, string>>(),
    details: jsonb('details').$type<Record<string, unknown>>(),
    classification: text('classification').$type<Classification>().notNull().default('alert'),
    incidentId: integer('incident_id').references(() => incidents.id, { onDelete: 'set null' }),
    repeatCount: bigint('repeat_count', { mode: 'number' }).notNull().default(1),
    lastAt: timestamp('last_at', { precision: 3, withTimezone: true, mode: 'date' }),
    /** Threat-intel labels (e.g. an APT group) whose indicators matched this hit's source. */
    intel: jsonb('intel').$type<string[]>(),
    expectedRuleId: integer('expected_rule_id'),
  },
  (t) => [
    index('hits_token_idx').on(t.tokenId, t.id),
    index('hits_expected_idx').on(t.expectedRuleId, t.at).where(sql`${t.expectedRuleId} is not null`),
    index('hits_at_idx').on(t.at),
    index('hits_incident_idx').on(t.incidentId),
    // Hits recorded but not yet correlated into a trail (the correlator's work queue; usually empty).
    index('hits_uncorrelated_idx').on(t.id).where(sql`${t.incidentId} is null`),
    // "Has this trail used a credential?" without walking the trail (credential hits are few).
    index('hits_credential_idx').on(t.incidentId).where(sql`${t.credential} is not null`),
  ],
);

export const incidents = pgTable(
  'incidents',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    actorKey: text('actor_key').notNull(),
    actorLabel: text('actor_label'),
    firstAt: timestamp('first_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    lastAt: timestamp('last_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    hitCount: bigint('hit_count', { mode: 'number' }).notNull().default(0),
    tokenCount: integer('token_count').notNull().default(0),
    locationCount: integer('location_count').notNull().default(0),
    hostCount: integer('host_count').notNull().default(0),
    severity: text('severity').$type<Severity>().notNull().default('low'),
    status: text('status').$type<IncidentStatus>().notNull().default('open'),
    lateral: boolean('lateral').notNull().default(false),
    techniques: jsonb('techniques').$type<string[]>().notNull().default([]),
    summary: text('summary'),
    updatedAt: timestamp('updated_at', { precision: 3, withTimezone: true, mode: 'date' }),
    mergedInto: integer('merged_into'),
    reasons: jsonb('reasons').$type<IncidentReason[]>().notNull().default([]),
    machineCount: integer('machine_count').notNull().default(0),
    alertGroup: text('alert_group'),
  },
  (t) => [index('incidents_actor_idx').on(t.actorKey, t.lastAt), index('incidents_status_idx').on(t.status, t.lastAt), index('incidents_updated_idx').on(t.updatedAt, t.id)],
);

export const incidentEntities = pgTable(
  'incident_entities',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    incidentId: integer('incident_id')
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').$type<EntityKind>().notNull(),
    label: text('label').notNull(),
    claimed: boolean('claimed').notNull().default(false),
    firstAt: timestamp('first_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    lastAt: timestamp('last_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    firstHitId: bigint('first_hit_id', { mode: 'number' }),
    hits: bigint('hits', { mode: 'number' }).notNull().default(1),
    data: jsonb('data').$type<Record<string, unknown>>(),
  },
  (t) => [uniqueIndex('entities_incident_key_uq').on(t.incidentId, t.key), index('entities_key_idx').on(t.key, t.firstAt)],
);

export const alerts = pgTable(
  'alerts',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    incidentId: integer('incident_id').references(() => incidents.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<'email' | 'webhook'>().notNull(),
    target: text('target').notNull(),
    kind: text('kind').$type<AlertKind>().notNull().default('first'),
    status: text('status').$type<AlertStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    claimedBy: text('claimed_by'),
    claimedUntil: timestamp('claimed_until', { precision: 3, withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    sentAt: timestamp('sent_at', { precision: 3, withTimezone: true, mode: 'date' }),
    idempotencyKey: text('idempotency_key').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
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

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  role: text('role').$type<UserRole>().notNull().default('admin'),
  createdAt: createdAt(),
  lastLoginAt: timestamp('last_login_at', { precision: 3, withTimezone: true, mode: 'date' }),
  disabledAt: timestamp('disabled_at', { precision: 3, withTimezone: true, mode: 'date' }),
  totpSecret: text('totp_secret'),
  totpEnabledAt: timestamp('totp_enabled_at', { precision: 3, withTimezone: true, mode: 'date' }),
  totpLastStep: bigint('totp_last_step', { mode: 'number' }),
  recoveryCodes: jsonb('recovery_codes').$type<string[]>().notNull().default([]),
  mfaRequired: boolean('mfa_required').notNull().default(false),
  passwordChangedAt: timestamp('password_changed_at', { precision: 3, withTimezone: true, mode: 'date' }),
});

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(), // sha256 of the cookie value; the value itself is never stored
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { precision: 3, withTimezone: true, mode: 'date' }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    mfaPending: boolean('mfa_pending').notNull().default(false),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(), // first characters, to recognise a key in the UI
  keyHash: text('key_hash').notNull().unique(), // sha256 hex; keys are 160+ bit random, so a fast hash is enough
  createdAt: createdAt(),
  createdBy: text('created_by'),
  lastUsedAt: timestamp('last_used_at', { precision: 3, withTimezone: true, mode: 'date' }),
  revokedAt: timestamp('revoked_at', { precision: 3, withTimezone: true, mode: 'date' }),
  scopes: jsonb('scopes').$type<string[]>().notNull().default(['*']),
  expiresAt: timestamp('expires_at', { precision: 3, withTimezone: true, mode: 'date' }),
});

export const tokenTerms = pgTable(
  'token_terms',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    tokenId: text('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    term: text('term').notNull(),
  },
  (t) => [uniqueIndex('token_terms_uq').on(t.term, t.tokenId), index('token_terms_token_idx').on(t.tokenId)],
);

/** PostgreSQL's byte array, read and written as a Buffer (node-postgres maps bytea to Buffer). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/** The file a token was made from (see schema.ts). */
export const tokenFiles = pgTable('token_files', {
  tokenId: text('token_id')
    .primaryKey()
    .references(() => tokens.id, { onDelete: 'cascade' }),
  body: bytea('body').notNull(),
  createdAt: createdAt(),
});

export const auditLog = pgTable(
  'audit_log',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    at: timestamp('at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [index('audit_at_idx').on(t.at)],
);

export const assets = pgTable(
  'assets',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    cidr: text('cidr'),
    hostname: text('hostname'),
    label: text('label').notNull(),
    segment: text('segment'),
    criticality: text('criticality').$type<'low' | 'medium' | 'high' | 'critical'>().notNull().default('medium'),
    createdAt: createdAt(),
  },
  (t) => [index('assets_cidr_idx').on(t.cidr), index('assets_hostname_idx').on(t.hostname)],
);

/** Expected activity (see schema.ts). */
export const expectedRules = pgTable(
  'expected_rules',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    sources: jsonb('sources').$type<string[]>().notNull().default([]),
    hosts: jsonb('hosts').$type<string[]>().notNull().default([]),
    users: jsonb('users').$type<string[]>().notNull().default([]),
    decoys: jsonb('decoys').$type<string[]>().notNull().default([]),
    schedule: text('schedule'),
    evidence: jsonb('evidence').$type<ExpectedEvidence[]>().notNull().default(['touch']),
    tag: text('tag'),
    note: text('note'),
    managedBy: text('managed_by').$type<'api' | 'file'>().notNull().default('api'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('expected_rules_name_uq').on(t.name)],
);

/** Purple-team drill runs (see schema.ts). */
export const drillRuns = pgTable(
  'drill_runs',
  {
    id: text('id').primaryKey(),
    scenario: text('scenario').notNull(),
    status: text('status').$type<DrillStatus>().notNull().default('running'),
    startedAt: timestamp('started_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    finishedAt: timestamp('finished_at', { precision: 3, withTimezone: true, mode: 'date' }),
    createdBy: text('created_by'),
    report: jsonb('report').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('drill_runs_started_idx').on(t.startedAt)],
);

/** Imported threat-intel indicators: a hit from a matching source carries the label. */
export const intelIndicators = pgTable(
  'intel_indicators',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    type: text('type').$type<IntelType>().notNull(),
    value: text('value').notNull(),
    label: text('label').notNull(),
    source: text('source'),
    createdAt: createdAt(),
    purpose: text('purpose').$type<IntelPurpose>().notNull().default('threat'),
  },
  (t) => [uniqueIndex('intel_uq').on(t.type, t.value, t.label)],
);

export const intelFeeds = pgTable(
  'intel_feeds',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    name: text('name').notNull(),
    kind: text('kind').$type<FeedKind>().notNull(),
    url: text('url').notNull(),
    collection: text('collection'),
    label: text('label').notNull(),
    intervalMinutes: integer('interval_minutes').notNull().default(60),
    enabled: boolean('enabled').notNull().default(true),
    authType: text('auth_type').$type<FeedAuth>().notNull().default('none'),
    authUser: text('auth_user'),
    authSecret: text('auth_secret'),
    cursor: jsonb('cursor').$type<Record<string, string>>().notNull().default({}),
    nextPullAt: timestamp('next_pull_at', { precision: 3, withTimezone: true, mode: 'date' }).notNull(),
    claimedBy: text('claimed_by'),
    claimedUntil: timestamp('claimed_until', { precision: 3, withTimezone: true, mode: 'date' }),
    lastPullAt: timestamp('last_pull_at', { precision: 3, withTimezone: true, mode: 'date' }),
    lastSuccessAt: timestamp('last_success_at', { precision: 3, withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    indicatorCount: integer('indicator_count').notNull().default(0),
    lastAdded: integer('last_added').notNull().default(0),
    lastRemoved: integer('last_removed').notNull().default(0),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { precision: 3, withTimezone: true, mode: 'date' }),
  },
  (t) => [uniqueIndex('intel_feeds_name_uq').on(t.name), index('intel_feeds_due_idx').on(t.nextPullAt)],
);

export const intelFeedItems = pgTable(
  'intel_feed_items',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    feedId: integer('feed_id')
      .notNull()
      .references(() => intelFeeds.id, { onDelete: 'cascade' }),
    ref: text('ref').notNull(),
    type: text('type').$type<IntelType>().notNull(),
    value: text('value').notNull(),
    validUntil: timestamp('valid_until', { precision: 3, withTimezone: true, mode: 'date' }),
  },
  (t) => [index('intel_feed_items_ref_idx').on(t.feedId, t.ref)],
);

/** Small key/value store for instance state (first-run setup, schema-independent flags). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>(),
  updatedAt: timestamp('updated_at', { precision: 3, withTimezone: true, mode: 'date' }),
});

export type PgTokenRow = typeof tokens.$inferSelect;
export type PgNewTokenRow = typeof tokens.$inferInsert;
export type PgHitRow = typeof hits.$inferSelect;
export type PgNewHitRow = typeof hits.$inferInsert;
export type PgIncidentRow = typeof incidents.$inferSelect;
export type PgAlertRow = typeof alerts.$inferSelect;
export type PgAssetRow = typeof assets.$inferSelect;
export type PgApiKeyRow = typeof apiKeys.$inferSelect;
export type PgIntelRow = typeof intelIndicators.$inferSelect;
export type PgExpectedRuleRow = typeof expectedRules.$inferSelect;
export type PgDrillRunRow = typeof drillRuns.$inferSelect;
