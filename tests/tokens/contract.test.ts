import { Resolver } from 'node:dns/promises';
import { createTransport } from 'nodemailer';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { ID_LENGTH } from '../../src/tokens/ids.ts';
import { KINDS, paramsJsonSchema } from '../../src/tokens/registry.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { sendUdp, wireguardInitiation } from './wireguard-initiator.ts';

/** One contract suite, run against every registered kind. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ SSH_ENABLED: 'true' });
});
afterAll(() => s.stop());

describe.each(KINDS.map((k) => [k.id, k] as const))('kind %s', (_id, kind) => {
  it('declares an id, label, description, channels and ATT&CK techniques', () => {
    expect(kind.id).toMatch(/^[a-z][a-z0-9-]+$/);
    expect(kind.label.length).toBeGreaterThan(2);
    expect(kind.description.length).toBeGreaterThan(10);
    expect(kind.channels.length).toBeGreaterThan(0);
    for (const t of kind.techniques) expect(t).toMatch(/^T\d{4}(\.\d{3})?$/);
  });

  it('its example passes its own params schema, and the schema converts to JSON Schema', () => {
    expect(kind.params.safeParse(kind.example).success).toBe(true);
    const schema = paramsJsonSchema(kind) as { type?: string };
    expect(schema.type).toBe('object');
  });

  it('creates a token with an unguessable id and describes what to plant', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    expect(token.id).toMatch(new RegExp(`^[0-9a-z]{${ID_LENGTH}}$`));
    const artifact = describeArtifact({ config: s.config }, token);
    expect(artifact.url ?? artifact.hostname ?? artifact.email ?? artifact.filename).toBeTruthy();
    if (kind.render) {
      const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
      expect(file.body.length).toBeGreaterThan(0);
      expect(file.filename).toMatch(/^[^/\\]+$/);
      expect(file.contentType).toMatch(/\//);
    }
  });

  it('two tokens of the kind never share an id or URL', async () => {
    const a = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    const b = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    expect(a.token.id).not.toBe(b.token.id);
    if (a.url) expect(a.url).not.toBe(b.url);
  });

  it('rejects params of the wrong type', () => {
    expect(kind.params.safeParse('not an object').success).toBe(false);
    expect(kind.params.safeParse(42).success).toBe(false);
  });
});

describe.each(KINDS.filter((k) => k.channels.includes('http')).map((k) => [k.id, k] as const))('kind %s over HTTP', (_id, kind) => {
  it('its URL records a hit and answers like a web server', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    expect(url).toBeTruthy();
    const res = await fetch(url!, { redirect: 'manual' });
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('server')).toBe('nginx');
    expect(await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 })).toHaveLength(1);
  });
});

describe.each(KINDS.filter((k) => k.channels.includes('dns')).map((k) => [k.id, k] as const))('kind %s over DNS', (_id, kind) => {
  it('a lookup of its host name (with data labels) is recorded with the resolver as source; the name carries no id', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    const artifact = describeArtifact({ config: s.config }, token);
    expect(artifact.hostname).toBe(`${token.hostLabel}.${s.config.DNS_ZONE}`);
    expect(artifact.hostname).not.toContain(token.id);
    const resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([`127.0.0.1:${s.app.port('dns')}`]);
    const answers = await resolver.resolve4(`data.${artifact.hostname}`);
    expect(answers.length).toBeGreaterThan(0);
    // A token made before host labels is named by its id, and keeps firing.
    await resolver.resolve4(`data.${token.id}.${s.config.DNS_ZONE}`);
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits).toHaveLength(2);
    expect(hits[0]).toMatchObject({ channel: 'dns', qtype: 'A', sourceIp: '127.0.0.1' });
  });
});

describe.each(KINDS.filter((k) => k.channels.includes('smtp')).map((k) => [k.id, k] as const))('kind %s over SMTP', (_id, kind) => {
  it('mail to its address is accepted and recorded', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    const to = describeArtifact({ config: s.config }, token).email;
    expect(to).toMatch(/@/);
    const transport = createTransport({ host: '127.0.0.1', port: s.app.port('smtp'), secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'someone@elsewhere.example', to, subject: 'contract', text: 'hello' });
    transport.close();
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ channel: 'smtp', mailSubject: 'contract' });
  });
});

describe.each(KINDS.filter((k) => k.channels.includes('ssh')).map((k) => [k.id, k] as const))('kind %s over SSH', (_id, kind) => {
  it('logging in with its secret is refused and recorded with the client as source', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    const secret = typeof token.params.privateKey === 'string' ? { privateKey: token.params.privateKey } : { password: String(token.params.password) };
    const error = await new Promise<string>((resolve) => {
      const client = new ssh2.Client();
      client.on('error', (err) => resolve(err.message));
      client.on('ready', () => (client.end(), resolve('logged in')));
      client.connect({ host: '127.0.0.1', port: s.app.port('ssh'), username: String(token.params.user ?? 'root'), readyTimeout: 10_000, ...secret });
    });
    expect(error).toBe('All configured authentication methods failed');
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ channel: 'ssh', sourceIp: '127.0.0.1' });
    expect(hits[0]?.credential).toBeTruthy();
  });
});

describe.each(KINDS.filter((k) => k.channels.includes('wireguard')).map((k) => [k.id, k] as const))('kind %s over WireGuard', (_id, kind) => {
  it('a handshake initiation with its planted key is recorded with the client as source and never answered', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    const conf = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString('utf8');
    const key = (name: string) => new Uint8Array(Buffer.from(new RegExp(`^${name} = (\\S+)$`, 'm').exec(conf)?.[1] ?? '', 'base64'));
    const replies = await sendUdp(wireguardInitiation(key('PrivateKey'), key('PublicKey')), s.app.port('wireguard'));
    expect(replies).toEqual([]);
    let hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    for (let i = 0; i < 50 && hits.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    }
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ channel: 'wireguard', sourceIp: '127.0.0.1' });
    expect(hits[0]?.credential).toBeTruthy();
  });
});

describe('internal params', () => {
  it.each(KINDS.filter((k) => k.internalParams?.length).map((k) => [k.id, k] as const))('%s hides what it fills in itself from forms and JSON Schema', (_id, kind) => {
    const schema = paramsJsonSchema(kind) as { properties?: Record<string, unknown> };
    for (const key of kind.internalParams ?? []) expect(Object.keys(schema.properties ?? {})).not.toContain(key);
  });
});
