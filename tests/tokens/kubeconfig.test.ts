import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

/**
 * kubectl (client-go) only sends a bearer token over https, so, as in production, the public
 * listener sits behind a TLS-terminating proxy here: a TLS server on 127.0.0.1 that pipes
 * each connection to the plain-HTTP listener, and PUBLIC_URL names the https side.
 */
let s: TestServer;
let proxy: Server;
const tmp = tempDir('honeytrail-kube-');
beforeAll(async () => {
  const key = join(tmp.dir, 'key.pem');
  const cert = join(tmp.dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
  // The proxy binds first (its port goes into PUBLIC_URL); it forwards once the server is up.
  proxy = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (tls) => {
    const upstream = connect(s.app.port('public'), '127.0.0.1');
    tls.pipe(upstream).pipe(tls);
    tls.on('error', () => upstream.destroy());
    upstream.on('error', () => tls.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const tlsPort = (proxy.address() as AddressInfo).port;
  s = await startTestServer({ PUBLIC_URL: `https://127.0.0.1:${tlsPort}` });
});
afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await s.stop();
  tmp.cleanup();
});

/** The plain-HTTP side of a server URL (what the TLS proxy forwards to). */
const plain = (url: string) => url.replace(/^https:\/\/127\.0\.0\.1:\d+/, s.publicUrl);

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });
const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

async function planted(params: Record<string, unknown> = {}): Promise<{ token: TokenRow; path: string; text: string; server: string; bearer: string }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'kubeconfig', params });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
  const text = file.body.toString('utf8');
  const path = join(tmp.dir, `${token.id}.yaml`);
  writeFileSync(path, text);
  return { token, path, text, server: /server: (\S+)/.exec(text)?.[1] ?? '', bearer: /token: (\S+)/.exec(text)?.[1] ?? '' };
}

/** Run kubectl asynchronously (the listener under test runs in this process). */
function kubectl(args: string[], home: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL ?? 'kubectl', args, { env: { PATH: process.env.PATH, HOME: home }, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

describe('kubeconfig kind: the planted file', () => {
  it('names a cluster on the public listener and a service-account JWT', async () => {
    const { token, server, bearer, text } = await planted({ namespace: 'payments', serviceAccount: 'ci-deployer', cluster: 'prod-eu-1' });
    expect(server).toBe(`${s.config.PUBLIC_URL}${token.urlPath}`);
    expect(server.startsWith('https://')).toBe(true);
    const [header, payload, sig] = bearer.split('.');
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).toMatchObject({ alg: 'RS256' });
    expect(JSON.parse(Buffer.from(payload ?? '', 'base64url').toString())).toMatchObject({ sub: 'system:serviceaccount:payments:ci-deployer' });
    expect(Buffer.from(sig ?? '', 'base64url')).toHaveLength(256);
    expect(text).toMatch(/current-context: ci-deployer-[a-z0-9]{5}@prod-eu-1/);
    expect(token.lookupKey).toMatch(/^k8s:[0-9a-f]{64}$/);
  });
});

// kubectl ships on this kind of machine (and CI's) as /usr/bin/kubectl; Debian bookworm's own
// kubernetes-client is 1.20 and clashes with it, so CI does not install one. Should it be
// missing, this suite fails rather than skips: the real client is the point of it.
describe('kubeconfig kind: real kubectl', () => {
  it('has a kubectl binary to run', () => {
    expect(KUBECTL, 'install kubectl (e.g. the kubectl package) to run the real-client tests').toBeDefined();
  });

  it('kubectl get pods is a credential-use hit and prints the server’s Forbidden status', async () => {
    const { token, path } = await planted({ namespace: 'payments', serviceAccount: 'ci-deployer', response: 'forbidden' });
    const r = await kubectl(['--kubeconfig', path, 'get', 'pods', '--request-timeout=10s'], tmp.dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:payments:ci-deployer" cannot list resource "pods" in API group "" in the namespace "payments"');
    const hits = await hitsOf(token.id);
    expect(hits.length).toBeGreaterThanOrEqual(1);
    for (const h of hits) {
      expect(h.credential).toBe('system:serviceaccount:payments:ci-deployer');
      // Debian/Google builds wrap kubectl in a dispatcher that asks /version with its own agent first.
      expect(h.userAgent).toMatch(/^kubectl(-dispatcher)?\/v1\.\d+/);
    }
    expect(hits.some((h) => /^kubectl\/v1\.\d+\.\d+ \(linux\/amd64\) kubernetes\//.test(h.userAgent ?? ''))).toBe(true);
    expect(hits.find((h) => h.path?.endsWith('/pods'))?.details).toMatchObject({ kubectlCommand: 'kubectl get', verb: 'list' });
    expect(hits.map((h) => h.path).join(' ')).toMatch(/\/api\b/);
  });

  it('with response=unauthorized kubectl reports a revoked login', async () => {
    const { token, path } = await planted({ response: 'unauthorized' });
    const r = await kubectl(['--kubeconfig', path, 'get', 'secrets', '-A', '--request-timeout=10s'], tmp.dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/must be logged in to the server|Unauthorized/);
    expect((await hitsOf(token.id)).every((h) => h.credential !== null)).toBe(true);
  });
});

describe('kubeconfig kind: the wire exchange kubectl makes', () => {
  it('discovery is served as to any authenticated user; resource requests get a Kubernetes-shaped 403 Status', async () => {
    const planted_ = await planted({ namespace: 'payments', serviceAccount: 'argocd-manager' });
    const { token, bearer } = planted_;
    const server = plain(planted_.server);
    const headers = {
      authorization: `Bearer ${bearer}`,
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
      'user-agent': 'kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd',
      'kubectl-command': 'kubectl get',
      'kubectl-session': '0f3b1a52-1c4e-4c57-9b8e-3d9a1f1e2d11',
    };
    const discovery = await fetch(`${server}/api?timeout=32s`, { headers });
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const pods = await fetch(`${server}/api/v1/namespaces/payments/pods?limit=500`, { headers });
    expect(pods.status).toBe(403);
    const status = (await pods.json()) as { message: string; details: { kind: string } };
    expect(status).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, details: { kind: 'pods' } });
    expect(status.message).toBe('pods is forbidden: User "system:serviceaccount:payments:argocd-manager" cannot list resource "pods" in API group "" in the namespace "payments"');
    const deploy = await fetch(`${server}/apis/apps/v1/namespaces/payments/deployments`, { headers });
    expect(((await deploy.json()) as { message: string }).message).toContain('cannot list resource "deployments" in API group "apps"');
    const hits = await hitsOf(token.id);
    expect(hits).toHaveLength(3);
    expect(hits[0]?.details).toMatchObject({ kubectlCommand: 'kubectl get', verb: 'list' });
  });

  it('a request without the token, or with another one, gets 401 and is not credential use', async () => {
    const p = await planted();
    const { token } = p;
    const server = plain(p.server);
    const anon = await fetch(`${server}/version`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    await fetch(`${server}/api`, { headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln' } });
    expect((await hitsOf(token.id)).map((h) => [h.credential, h.classification])).toEqual([
      [null, 'alert'],
      [null, 'probe'],
    ]);
  });

  it('the token is recognised without the cluster path (indexed lookup key)', async () => {
    const { token, bearer } = await planted();
    const res = await fetch(`${s.publicUrl}/api/v1/namespaces/kube-system/secrets`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(res.status).toBe(403);
    expect(await hitsOf(token.id)).toHaveLength(1);
  });
});
