import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineKind, type HitFacts, type HttpReply, type HttpRequestInfo, type Token } from './kind.ts';
import { bearerToken, choose, clipText, maskedPassword, randomString, sha256 } from './secrets.ts';
import { renderTemplate } from './templates.ts';
import { publicUrl } from './urls.ts';

/**
 * A kubeconfig whose user is a service-account bearer token and whose cluster server is the
 * public listener (Rancher-style `/k8s/clusters/c-<id>` path). kubectl requests carrying the
 * token are credential-use hits, answered with the Kubernetes `Status` a real API server gives
 * a revoked (401) or unprivileged (403) token. In production the listener sits behind a TLS
 * reverse proxy, so the server URL is https; tests use plain http, which kubectl accepts.
 */

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'must be a DNS label (a-z, 0-9, -)');
const params = z.object({
  cluster: name.optional().describe('Cluster name (random plausible name when empty)'),
  namespace: name.default('default').describe('Namespace of the context and the service account'),
  serviceAccount: name.optional().describe('Service account the token belongs to (random when empty)'),
  response: z.enum(['forbidden', 'unauthorized']).default('forbidden').describe('403 (valid but unprivileged token) or 401 (revoked token)'),
  token: z.string().optional().describe('Generated'),
});
type KubeParams = z.infer<typeof params>;

const CLUSTERS = ['prod-eu-1', 'prod-us-east', 'platform-prod', 'k8s-prod-01', 'shared-services', 'data-prod'];
const ACCOUNTS = ['ci-deployer', 'argocd-manager', 'gitlab-runner', 'backup-operator', 'monitoring-admin', 'cluster-admin-sa'];

/** A service-account token shaped like the real ones (RS256 JWT); it is never verified by anyone. */
function serviceAccountJwt(cluster: string, namespace: string, account: string): string {
  const header = { alg: 'RS256', kid: randomBytes(32).toString('base64url').slice(0, 43) };
  const now = Math.floor(Date.now() / 1000) - 86_400 * 30;
  const payload = {
    aud: [`https://kubernetes.default.svc.cluster.local`],
    exp: now + 86_400 * 365 * 5,
    iat: now,
    iss: `https://oidc.${cluster}.internal`,
    'kubernetes.io': { namespace, serviceaccount: { name: account, uid: randomUUID() } },
    nbf: now,
    sub: `system:serviceaccount:${namespace}:${account}`,
  };
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${randomBytes(256).toString('base64url')}`;
}

export function kubeLookupKey(token: string): string {
  return `k8s:${sha256(token)}`;
}

function subject(t: Token<KubeParams>): string {
  return `system:serviceaccount:${t.params.namespace}:${t.params.serviceAccount ?? 'default'}`;
}

/** Resource, group and namespace named by an API path such as /api/v1/namespaces/ns/pods. */
function target(path: string): { group: string; resource: string | null; namespace: string | null } {
  const m = /\/(?:api\/v1|apis\/([a-z0-9.-]+)\/[a-z0-9]+)(?:\/namespaces\/([a-z0-9-]+))?(?:\/([a-z0-9.-]+))?/.exec(path);
  if (!m) return { group: '', resource: null, namespace: null };
  const namespace = m[2] ?? null;
  const resource = m[3] ?? (namespace ? 'namespaces' : null);
  return { group: m[1] ?? '', resource, namespace };
}

function verb(req: HttpRequestInfo, named: boolean): string {
  if (req.query.get('watch') === 'true' || req.query.get('watch') === '1') return 'watch';
  return ({ GET: named ? 'get' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[req.method] ?? req.method.toLowerCase();
}

function describe(req: HttpRequestInfo, t: Token<KubeParams>): HitFacts {
  const bearer = bearerToken(req);
  const header = (n: string) => clipText(typeof req.headers[n] === 'string' ? (req.headers[n] as string) : null, 256);
  const details = { path: clipText(req.path, 256), verb: verb(req, false), kubectlCommand: header('kubectl-command'), kubectlSession: header('kubectl-session') };
  if (bearer === t.params.token) return { credential: subject(t), details };
  if (bearer) return { classification: 'probe', details: { ...details, note: 'a token that is not the planted one', token: maskedPassword(bearer, t.id) } };
  return { details: { ...details, note: 'API server contacted without the token' } };
}

function respond(req: HttpRequestInfo, t: Token<KubeParams>): HttpReply {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'audit-id': randomUUID(), 'x-kubernetes-pf-flowschema-uid': randomUUID(), 'x-kubernetes-pf-prioritylevel-uid': randomUUID() };
  const ours = bearerToken(req) === t.params.token;
  if (!ours || t.params.response === 'unauthorized') {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
    return { status: 401, headers, body: JSON.stringify(status) };
  }
  const rel = req.path.replace(/^\/k8s\/clusters\/[^/]+/, '') || '/';
  const { group, resource, namespace } = target(rel);
  const user = subject(t);
  const v = verb(req, false);
  const message = resource
    ? `${resource} is forbidden: User "${user}" cannot ${v} resource "${resource}" in API group "${group}"${namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope'}`
    : `forbidden: User "${user}" cannot ${req.method.toLowerCase()} path "${rel}"`;
  const status = {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden',
    details: resource ? { kind: resource } : {}, code: 403,
  };
  return { status: 403, headers, body: JSON.stringify(status) };
}

function server(ctx: { config: { PUBLIC_URL: string } }, t: Token<KubeParams>): string {
  return publicUrl(ctx.config, t.urlPath ?? '/');
}

export const kubeconfig = defineKind<KubeParams>({
  id: 'kubeconfig',
  label: 'Kubernetes kubeconfig',
  description: 'A kubeconfig with a service-account bearer token and a cluster server on Honeytrail. kubectl requests with the token are recorded.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1021'],
  params,
  example: { namespace: 'deploy', response: 'forbidden' },
  create(_ctx, id, p) {
    const cluster = p.cluster ?? choose(CLUSTERS);
    const serviceAccount = p.serviceAccount ?? choose(ACCOUNTS);
    const token = serviceAccountJwt(cluster, p.namespace, serviceAccount);
    return { params: { ...p, cluster, serviceAccount, token }, lookupKey: kubeLookupKey(token), urlPath: `/k8s/clusters/c-${id}` };
  },
  artifact(ctx, t) {
    return {
      url: server(ctx, t),
      filename: 'config',
      contentType: 'application/yaml',
      hint: `Plant as ~/.kube/config (or kubeconfig-${t.params.cluster ?? 'prod'}.yaml) on an admin or CI host. Service account ${subject(t)}.`,
    };
  },
  render(ctx, t) {
    const cluster = t.params.cluster ?? 'prod';
    const user = `${t.params.serviceAccount ?? 'default'}-${randomString('abcdefghijklmnopqrstuvwxyz0123456789', 5)}`;
    const body = renderTemplate(
      'tokens/kubeconfig/config.hbs',
      { server: server(ctx, t), cluster, namespace: t.params.namespace, user, context: `${user}@${cluster}`, token: t.params.token },
      'text',
    );
    return { filename: 'config', contentType: 'application/yaml', body: Buffer.from(body) };
  },
  http: {
    lookupKey(req) {
      const bearer = bearerToken(req);
      return bearer && bearer.startsWith('eyJ') ? kubeLookupKey(bearer) : null;
    },
    describe,
    respond,
  },
});
