import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_PRESETS, POLICY, ROLE_PERMISSIONS, scopePermissions, type Permission } from '../../src/access.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { createAdminApp } from '../../src/app.ts';
import { createApiKey } from '../../src/db/queries/api-keys.ts';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { insertUserWithRole } from '../../src/db/queries/users.ts';
import type { UserRole } from '../../src/db/schema.ts';
import { makeIncident } from '../factories.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { makeAdmin, signIn } from './helpers.ts';
import { insertExpectedRule } from '../../src/db/queries/expected.ts';
import { API_KEYS, concrete, routesOf, UI_KEYS, type RouteIds } from './routes.ts';

/**
 * The policy table (src/access.ts) against the running app: every route has a guard and an
 * entry (and every entry a route), every UI route refuses the roles it should and lets the
 * others through, and every API route does the same for each API key scope preset.
 */

let s: TestServer;
let app: ReturnType<typeof createAdminApp>;
let ids: RouteIds;
beforeAll(async () => {
  s = await startTestServer();
  app = createAdminApp(s.app.deps);
  const db = s.app.deps.db;
  await makeAdmin(db);
  const other = await insertUserWithRole(db, 'spare@corp.example', await hashPassword('a spare account password'), 'viewer');
  const key = await createApiKey(db, 'spare', 'test');
  ids = {
    token: (await makeToken(db, s.config, { kind: 'web-bug' })).token.id,
    incident: (await makeIncident(db)).id,
    asset: (await insertAsset(db, { label: 'WS-1', cidr: '10.0.0.1' })).id,
    rule: (await insertExpectedRule(db, { name: 'backup', enabled: true, sources: ['10.1.5.20'], hosts: [], users: [], decoys: ['*'], evidence: ['touch'] })).id,
    user: other.id,
    key: key.row.id,
  };
});
afterAll(() => s.stop());

describe('policy table', () => {
  it('every route of the admin listener has a guard with a table entry, and every entry a route', () => {
    const routes = routesOf(app);
    expect(routes.length).toBeGreaterThan(60);
    const unguarded = routes.filter((r) => r.guardKey === null);
    expect(unguarded, 'routes without a policy guard').toEqual([]);
    const guarded = new Set(routes.map((r) => r.guardKey));
    expect(Object.keys(POLICY).filter((k) => !guarded.has(k)), 'policy entries without a route').toEqual([]);
    for (const r of routes) expect(r.guardKey?.startsWith(`${r.method} `), `${r.guardKey} is registered as ${r.method}`).toBe(true);
  });

  it.each(['viewer', 'responder', 'admin'] as const)('refuses a %s exactly the UI routes its role lacks', async (role: UserRole) => {
    const email = `${role}-policy@corp.example`;
    await insertUserWithRole(s.app.deps.db, email, await hashPassword('policy test password 42'), role);
    const { agent, csrf } = await signIn(app, email, 'policy test password 42');
    const allowed = new Set<Permission>(ROLE_PERMISSIONS[role]);
    for (const key of UI_KEYS) {
      const permission = POLICY[key as keyof typeof POLICY];
      if (permission === 'public') continue;
      // Allowed POSTs that end or change this very session are tried last or not at all.
      if (key === 'POST /logout' || key === 'POST /account/password' || key === 'POST /account/mfa/disable') continue;
      const { method, path } = concrete(key, ids);
      const res = method === 'GET' ? await agent.get(path) : await agent.post(path).type('form').send({ _csrf: csrf });
      if (allowed.has(permission)) expect(res.status, `${role} ${key}`).not.toBe(403);
      else {
        expect(res.status, `${role} ${key}`).toBe(403);
        expect(res.text).toContain(`Your role (${role}) cannot`);
      }
    }
  });

  it.each(Object.keys(KEY_PRESETS))('refuses an API key with the %s preset exactly the endpoints outside its scopes', async (preset) => {
    const { key } = await createApiKey(s.app.deps.db, `policy ${preset}`, 'test', undefined, { scopes: KEY_PRESETS[preset as keyof typeof KEY_PRESETS].scopes });
    const allowed = scopePermissions(KEY_PRESETS[preset as keyof typeof KEY_PRESETS].scopes);
    for (const k of API_KEYS) {
      const { method, path } = concrete(k, ids);
      const permission = POLICY[k as keyof typeof POLICY];
      // A request that passes the guard may still fail validation (empty body): anything but 401/403 shows the guard let it through.
      const req = request(app)[method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete'](path.replace(`/tokens/${ids.token}`, '/tokens/000000000000000000000000')).set('Authorization', `Bearer ${key}`);
      const res = method === 'GET' || method === 'DELETE' ? await req : await req.send({});
      if (allowed.has(permission)) expect([401, 403], `${preset} ${k}`).not.toContain(res.status);
      else {
        expect(res.status, `${preset} ${k}`).toBe(403);
        expect(res.body.error.code).toBe('forbidden');
      }
    }
  });

  it('refuses an expired key and records when a key was last used', async () => {
    const db = s.app.deps.db;
    const expired = await createApiKey(db, 'old', 'test', undefined, { scopes: ['*'], expiresAt: new Date(Date.now() - 1000) });
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${expired.key}`)).status).toBe(401);
    const live = await createApiKey(db, 'live', 'test', undefined, { scopes: ['tokens:read'], expiresAt: new Date(Date.now() + 86_400_000) });
    expect((await request(app).get('/api/v1/kinds').set('Authorization', `Bearer ${live.key}`)).status).toBe(200);
    const { getApiKey } = await import('../../src/db/queries/api-keys.ts');
    expect((await getApiKey(db, live.row.id))?.lastUsedAt).toBeInstanceOf(Date);
  });
});
