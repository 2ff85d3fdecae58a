import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { backdate, bearerToken, choose, clipText, maskedPassword, randomString, secretTerm, sha256 } from './secrets.ts';
import { trimEndChars } from '../text.ts';
import { renderTemplate } from './templates.ts';
import { fillRoute } from './addresses.ts';
import { publicUrl } from './urls.ts';

/**
 * A kubeconfig whose user is a service-account bearer token and whose cluster server is the
 * public listener (a Rancher-style `/k8s/clusters/c-m-…` path or another base path, random per token). kubectl requests carrying the
 * token are credential-use hits, answered with the Kubernetes `Status` a real API server gives
 * a revoked (401) or unprivileged (403) token; discovery is served as a real cluster serves
 * it to any authenticated user. kubectl (client-go) sends bearer tokens only over https, so
 * PUBLIC_URL must be the https address of a TLS reverse proxy in front of the public listener;
 * over plain http kubectl still calls the cluster path (a hit) but without the token.
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

/** Lifetimes admins ask `kubectl create token --duration` for (hours): a quarter, half a year, a year, two. */
const DURATIONS_H = [2160, 4380, 8760, 8760, 17520];

/**
 * A service-account token shaped like the ones an RKE2/kubeadm cluster issues for `kubectl create
 * token --duration` (RS256 JWT; the default issuer and audience `https://kubernetes.default.svc.cluster.local`
 * those distributions and the Rancher-managed clusters the server path imitates use). Issued at a
 * random moment weeks to months ago, valid for one of the lifetimes admins ask for and still valid
 * today. It is never verified by anyone.
 */
function serviceAccountJwt(_cluster: string, namespace: string, account: string): string {
  const header = { alg: 'RS256', kid: randomBytes(32).toString('base64url').slice(0, 43) };
  const hours = choose(DURATIONS_H);
  // Issued long enough ago to look lived-in, recently enough that a month of validity remains.
  const maxDays = Math.max(10, Math.min(300, Math.floor(hours / 24) - 30));
  const iat = Math.floor(backdate(7, maxDays).getTime() / 1000);
  const payload = {
    aud: [`https://kubernetes.default.svc.cluster.local`],
    exp: iat + hours * 3600,
    iat,
    iss: 'https://kubernetes.default.svc.cluster.local',
    'kubernetes.io': { namespace, serviceaccount: { name: account, uid: randomUUID() } },
    nbf: iat,
    sub: `system:serviceaccount:${namespace}:${account}`,
  };
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${randomBytes(256).toString('base64url')}`;
}

/** The lookup key of a planted service-account token (a digest; the key column never holds the token). */
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
  return { details: { ...details, note: 'API server contacted without the token (kubectl omits it over plain http)' } };
}

function explain(hit: StoredHit, t: Decoy<KubeParams>): HitMeaning {
  const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
  const command = detail(hit.details, 'kubectlCommand');
  const request = `${hit.method ?? 'GET'} ${detail(hit.details, 'path') ?? hit.path ?? '/'}`;
  const ran = command ? `ran \`${command}\` (${request})` : `sent ${request}`;
  // Reading the API's resources is container and resource discovery.
  const discovery = /\/(api|apis)\//.test(detail(hit.details, 'path') ?? '') ? ['T1613'] : [];
  if (hit.credential) return { action: `${client} ${ran} as ${hit.credential}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078', ...discovery] };
  if (detail(hit.details, 'token')) return { action: `${client} ${ran} with another token`, evidence: 'credential-found', techniques: ['T1552.001'] };
  return { action: `${client} ${ran} without the token`, evidence: 'credential-found', techniques: ['T1552.001', ...discovery] };
}

/** Discovery data: group/version -> resources as [name, kind, namespaced, shortNames]. */
const RESOURCES: Record<string, [string, string, boolean, string[]][]> = {
  v1: [
    ['pods', 'Pod', true, ['po']], ['secrets', 'Secret', true, []], ['configmaps', 'ConfigMap', true, ['cm']], ['services', 'Service', true, ['svc']],
    ['serviceaccounts', 'ServiceAccount', true, ['sa']], ['persistentvolumeclaims', 'PersistentVolumeClaim', true, ['pvc']], ['events', 'Event', true, ['ev']],
    ['namespaces', 'Namespace', false, ['ns']], ['nodes', 'Node', false, ['no']], ['persistentvolumes', 'PersistentVolume', false, ['pv']],
  ],
  'apps/v1': [['deployments', 'Deployment', true, ['deploy']], ['statefulsets', 'StatefulSet', true, ['sts']], ['daemonsets', 'DaemonSet', true, ['ds']], ['replicasets', 'ReplicaSet', true, ['rs']]],
  'batch/v1': [['jobs', 'Job', true, []], ['cronjobs', 'CronJob', true, ['cj']]],
  'rbac.authorization.k8s.io/v1': [['roles', 'Role', true, []], ['rolebindings', 'RoleBinding', true, []], ['clusterroles', 'ClusterRole', false, []], ['clusterrolebindings', 'ClusterRoleBinding', false, []]],
  'networking.k8s.io/v1': [['ingresses', 'Ingress', true, ['ing']], ['networkpolicies', 'NetworkPolicy', true, ['netpol']]],
};
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * What any authenticated user may read on a real cluster (the system:discovery role): the
 * version and the API discovery documents. Serving them lets kubectl get as far as a real
 * cluster lets it, so it prints the ordinary "Forbidden" for the resource it wanted.
 */
function discovery(rel: string, address: string): unknown {
  if (rel === '/version') return { major: '1', minor: '29', gitVersion: 'v1.29.10', gitCommit: 'f0c1d8e5b1bd4a7bc4e3b2c7d1a4f6c8b2e9a7d3', gitTreeState: 'clean', buildDate: '2024-10-22T20:26:38Z', goVersion: 'go1.22.8', compiler: 'gc', platform: 'linux/amd64' };
  if (rel === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
  if (rel === '/apis') {
    const groups = Object.keys(RESOURCES).filter((gv) => gv.includes('/')).map((gv) => {
      const [name = '', version = ''] = gv.split('/');
      return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const gv = rel === '/api/v1' ? 'v1' : /^\/apis\/([a-z0-9.-]+\/v[0-9a-z]+)$/.exec(rel)?.[1];
  const list = gv ? RESOURCES[gv] : undefined;
  if (!gv || !list) return null;
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
    resources: list.map(([name, kind, namespaced, shortNames]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: VERBS, ...(shortNames.length ? { shortNames } : {}) })),
  };
}

function respond(req: HttpRequestInfo, t: Token<KubeParams>): HttpReply {
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'audit-id': randomUUID(), 'x-kubernetes-pf-flowschema-uid': randomUUID(), 'x-kubernetes-pf-prioritylevel-uid': randomUUID() };
  const ours = bearerToken(req) === t.params.token;
  if (!ours || t.params.response === 'unauthorized') {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
    return { status: 401, headers, body: JSON.stringify(status) };
  }
  // A loop, not /\/+$/: that regex is quadratic in a run of slashes an intruder controls.
  const base = t.urlPath ?? '';
  const under = base.length > 1 && req.path.startsWith(base) ? req.path.slice(base.length) : req.path.replace(/^\/k8s\/clusters\/[^/]+/, '');
  const rel = trimEndChars(under, '/') || '/';
  const doc = req.method === 'GET' ? discovery(rel, `10.${(t.id.charCodeAt(0) % 200) + 10}.0.1:6443`) : null;
  if (doc) return { status: 200, headers, body: JSON.stringify(doc) };
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

/** A kubeconfig with a service-account token: kubectl with the token is a credential-use hit. */
export const kubeconfig = defineKind<KubeParams>({
  id: 'kubeconfig',
  label: 'Kubernetes kubeconfig',
  description: 'A kubeconfig with a service-account bearer token and a cluster server on Honeytrail. kubectl requests with the token are recorded.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1021'],
  params,
  example: { namespace: 'deploy', response: 'forbidden' },
  internalParams: ['token'],
  searchTerms: (t) => [subject(t), t.params.serviceAccount ?? '', secretTerm(t.params.token ?? '')],
  create(_ctx, id, p) {
    const cluster = p.cluster ?? choose(CLUSTERS);
    const serviceAccount = p.serviceAccount ?? choose(ACCOUNTS);
    const token = serviceAccountJwt(cluster, p.namespace, serviceAccount);
    return { params: { ...p, cluster, serviceAccount, token }, lookupKey: kubeLookupKey(token), urlPath: fillRoute(choose(['/k8s/clusters/c-m-{b36}', '/k8s/clusters/c-{hex}', '/k8s/{word}-{b36}', '/{b62}'])) };
  },
  artifact(ctx, t) {
    return {
      url: server(ctx, t),
      filename: 'config',
      contentType: 'application/yaml',
      hint: `Plant as ~/.kube/config (or kubeconfig-${t.params.cluster ?? 'prod'}.yaml) on an admin or CI host. Service account ${subject(t)}.${ctx.config.PUBLIC_URL.startsWith('https://') ? '' : ' PUBLIC_URL is http: kubectl sends the token only over https, so put a TLS proxy in front and set PUBLIC_URL to it.'}`,
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
  explain,
  http: {
    lookupKey(req) {
      const bearer = bearerToken(req);
      return bearer && bearer.startsWith('eyJ') ? kubeLookupKey(bearer) : null;
    },
    describe,
    respond,
  },
});
