import { writeFileSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { sql } from 'drizzle-orm';
import { isPg, type AnyDb } from '../../src/db/store.ts';

let s: TestServer;
const tmp = tempDir('honeytrail-aws-');
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const AWS_ENV = ['AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL'];
const saved = Object.fromEntries(AWS_ENV.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of AWS_ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });

/** Download the artifact, unzip it into a fresh "home folder" and point the SDK's environment at it. */
async function plantInHome(params: Record<string, unknown> = {}): Promise<{ token: TokenRow; home: string; credentials: string; config: string }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'aws-keys', params });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  expect(file.contentType).toBe('application/zip');
  const files = unzipSync(new Uint8Array(file.body));
  expect(Object.keys(files).sort()).toEqual(['.aws/config', '.aws/credentials']);
  const home = join(tmp.dir, token.id);
  mkdirSync(join(home, '.aws'), { recursive: true });
  const credentials = Buffer.from(files['.aws/credentials'] ?? new Uint8Array()).toString();
  const config = Buffer.from(files['.aws/config'] ?? new Uint8Array()).toString();
  writeFileSync(join(home, '.aws/credentials'), credentials);
  writeFileSync(join(home, '.aws/config'), config);
  for (const k of AWS_ENV) delete process.env[k];
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(home, '.aws/credentials');
  process.env.AWS_CONFIG_FILE = join(home, '.aws/config');
  process.env.AWS_PROFILE = (token.params as { profile: string }).profile;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  return { token, home, credentials, config };
}

function keyIdOf(credentials: string): string {
  return /aws_access_key_id = (\S+)/.exec(credentials)?.[1] ?? '';
}

describe('aws-keys kind: the planted files', () => {
  it('holds a well-formed key pair and a config profile whose endpoint is the public listener', async () => {
    const { token, credentials, config } = await plantInHome({ profile: 'prod-admin', region: 'eu-central-1', output: 'table' });
    expect(credentials).toMatch(/^\[prod-admin\]\naws_access_key_id = AKIA[A-Z2-7]{16}\naws_secret_access_key = [A-Za-z0-9+/]{40}\n$/);
    expect(config).toBe(`[profile prod-admin]\nregion = eu-central-1\noutput = table\nendpoint_url = ${s.publicUrl}${token.urlPath}\n`);
    expect(token.lookupKey).toBe(keyIdOf(credentials));
  });

  it('the default profile is written as [default] in both files', async () => {
    const { credentials, config } = await plantInHome({ profile: 'default' });
    expect(credentials.startsWith('[default]\n')).toBe(true);
    expect(config.startsWith('[default]\n')).toBe(true);
  });

  it('the key id is the token lookup key, found through the unique index (O(1), not a scan)', async () => {
    const db = s.app.deps.db as AnyDb;
    if (isPg(db)) {
      // PostgreSQL's planner scans a table of a few test rows whatever the indexes; what makes the lookup O(1) is the unique index on the key.
      const { rows } = await db.execute<{ indexdef: string }>(sql`select indexdef from pg_indexes where tablename = 'tokens' and indexname = 'tokens_lookup_key_uq'`);
      expect(rows[0]?.indexdef).toMatch(/CREATE UNIQUE INDEX tokens_lookup_key_uq ON public\.tokens USING btree \(lookup_key\)/);
      return;
    }
    const plan = db.$client.prepare('EXPLAIN QUERY PLAN SELECT * FROM tokens WHERE lookup_key = ? AND deleted_at IS NULL').all('AKIAAAAAAAAAAAAAAAAA') as { detail: string }[];
    expect(plan.map((r) => r.detail).join(' ')).toMatch(/USING INDEX tokens_lookup_key_uq/);
  });

  it('every token gets its own key id', async () => {
    const a = await plantInHome();
    const b = await plantInHome();
    expect(keyIdOf(a.credentials)).not.toBe(keyIdOf(b.credentials));
  });
});

describe('aws-keys kind: the AWS SDK v3 reading the planted files', () => {
  it('sts GetCallerIdentity is a credential-use hit naming the key id and action; the SDK sees InvalidClientTokenId', async () => {
    const { token, credentials } = await plantInHome({ profile: 'ops', region: 'eu-west-1' });
    const sts = new STSClient({});
    const err = await sts.send(new GetCallerIdentityCommand({})).then(
      () => null,
      (e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } },
    );
    sts.destroy();
    expect(err?.name).toBe('InvalidClientTokenId');
    expect(err?.$metadata.httpStatusCode).toBe(403);
    const hits = await hitsOf(token.id);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ credential: keyIdOf(credentials), classification: 'alert', method: 'POST' });
    expect(hits[0]?.userAgent).toMatch(/aws-sdk-js/);
    expect(hits[0]?.details).toMatchObject({ signed: true, service: 'sts', region: 'eu-west-1', action: 'GetCallerIdentity', keyId: keyIdOf(credentials) });
  });

  it('s3 ListBuckets is a hit with service s3 and action ListBuckets; the SDK sees InvalidAccessKeyId', async () => {
    const { token, credentials } = await plantInHome({ profile: 'backup', region: 'us-east-2' });
    const s3 = new S3Client({ forcePathStyle: true });
    const err = await s3.send(new ListBucketsCommand({})).then(
      () => null,
      (e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } },
    );
    s3.destroy();
    expect(err?.name).toBe('InvalidAccessKeyId');
    expect(err?.$metadata.httpStatusCode).toBe(403);
    const hits = await hitsOf(token.id);
    expect(hits.length).toBeGreaterThanOrEqual(1);
    expect(hits[0]).toMatchObject({ credential: keyIdOf(credentials), method: 'GET' });
    expect(hits[0]?.details).toMatchObject({ service: 's3', region: 'us-east-2', action: 'ListBuckets' });
  });
});

/** A raw request to the public listener, for headers no SDK would send. */
function raw(path: string, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${s.publicUrl}${path}`, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const sigv4 = (keyId: string, scope = '20261128/us-east-1/sts/aws4_request') =>
  `AWS4-HMAC-SHA256 Credential=${keyId}/${scope}, SignedHeaders=host;x-amz-date, Signature=${'a'.repeat(64)}`;

describe('aws-keys kind: wire level', () => {
  it('the key id alone finds the token, wherever the request is sent (O(1) lookup key, no token id in the URL)', async () => {
    const { token, credentials } = await plantInHome();
    const keyId = keyIdOf(credentials);
    const res = await raw('/', { method: 'POST', headers: { authorization: sigv4(keyId), 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-date': '20261128T010203Z' }, body: 'Action=ListUsers&Version=2010-05-08' });
    expect(res.status).toBe(403);
    expect(res.body).toContain('<Code>InvalidClientTokenId</Code>');
    const hit = (await hitsOf(token.id)).at(-1);
    expect(hit).toMatchObject({ credential: keyId, path: '/' });
    expect(hit?.details).toMatchObject({ action: 'ListUsers', service: 'sts' });
  });

  it('JSON-protocol services get a JSON error and the action comes from X-Amz-Target', async () => {
    const { token, credentials } = await plantInHome();
    const keyId = keyIdOf(credentials);
    const res = await raw('/', {
      method: 'POST',
      headers: { authorization: sigv4(keyId, '20261128/eu-west-1/dynamodb/aws4_request'), 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
    expect((await hitsOf(token.id)).at(-1)?.details).toMatchObject({ action: 'ListTables', service: 'dynamodb', region: 'eu-west-1' });
  });

  it('a presigned URL (X-Amz-Credential in the query) is a hit too', async () => {
    const { token, credentials } = await plantInHome();
    const keyId = keyIdOf(credentials);
    const q = new URLSearchParams({ 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256', 'X-Amz-Credential': `${keyId}/20261128/us-east-1/s3/aws4_request`, 'X-Amz-Date': '20261128T000000Z', 'X-Amz-Expires': '900', 'X-Amz-SignedHeaders': 'host', 'X-Amz-Signature': 'b'.repeat(64) });
    const res = await raw(`/finance-exports/q3.csv?${q}`, {});
    expect(res.status).toBe(403);
    expect(res.body).toContain('<Code>InvalidAccessKeyId</Code>');
    expect((await hitsOf(token.id)).at(-1)).toMatchObject({ credential: keyId });
    expect((await hitsOf(token.id)).at(-1)?.details).toMatchObject({ presigned: true, service: 's3', action: 'GET /finance-exports/q3.csv' });
  });

  it('malformed signatures never crash the listener and never count as credential use', async () => {
    const { token, credentials } = await plantInHome();
    const keyId = keyIdOf(credentials);
    const endpoint = token.urlPath ?? '/';
    const bad = [
      'AWS4-HMAC-SHA256',
      'AWS4-HMAC-SHA256 Credential=',
      `AWS4-HMAC-SHA256 Credential=${keyId}`,
      `AWS4-HMAC-SHA256 Credential=${keyId}/2026/us-east-1/sts/aws4_request`,
      `AWS4-HMAC-SHA256 Credential=${keyId}/20261128/us-east-1/sts/not_aws4`,
      `AWS4-HMAC-SHA256 Credential=${'A'.repeat(3000)}/20261128/us-east-1/sts/aws4_request`,
      `AWS4-HMAC-SHA256 Credential=${keyId}/20261128/${'r'.repeat(500)}/sts/aws4_request`,
      'AWS4-HMAC-SHA256 Credential=\u00ff\u00fe/20261128/x/y/aws4_request',
      'AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=',
    ];
    for (const authorization of bad) {
      const res = await raw(endpoint, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=GetCallerIdentity' });
      expect(res.status).toBe(403);
      expect(res.body).toContain('MissingAuthenticationToken');
      // Away from the token's path, a malformed signature gets what nginx gives any POST: 405 at the site root, 404 elsewhere.
      expect((await raw('/', { method: 'POST', headers: { authorization } })).status).toBe(405);
      expect((await raw('/upload', { method: 'POST', headers: { authorization } })).status).toBe(404);
    }
    const hits = await hitsOf(token.id);
    expect(hits).toHaveLength(bad.length);
    for (const h of hits) {
      expect(h.credential).toBeNull();
      expect(h.details).toMatchObject({ signed: false });
    }
    // Still serving.
    expect((await raw('/', {})).status).toBe(200);
  });

  it('a signed request with a key that is not the planted one, at the token endpoint, is probing', async () => {
    const { token } = await plantInHome();
    const res = await raw(token.urlPath ?? '/', { method: 'POST', headers: { authorization: sigv4('AKIAIOSFODNN7EXAMPLE'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=GetCallerIdentity' });
    expect(res.status).toBe(403);
    expect((await hitsOf(token.id)).at(-1)).toMatchObject({ credential: null, classification: 'probe' });
  });
});
