import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { ID_LENGTH } from '../../src/tokens/ids.ts';
import { KINDS, paramsJsonSchema } from '../../src/tokens/registry.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/** One contract suite, run against every registered kind. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
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

  it.runIf(kind.channels.includes('http'))('fires over HTTP: its URL records a hit and answers like a web server', async () => {
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: kind.id });
    expect(url).toBeTruthy();
    const res = await fetch(url!, { redirect: 'manual' });
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('server')).toBe('nginx');
    expect(listHits(s.app.deps.db, { tokenId: token.id, limit: 5 })).toHaveLength(1);
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
