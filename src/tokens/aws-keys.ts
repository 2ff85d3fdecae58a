import { zipSync } from 'fflate';
import { z } from 'zod';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { awsAccountId, awsKeyIdFor, organisationName } from './organisation.ts';
import { AWS_SECRET_ALPHABET, backdate, choose, clipText, formBody, randomString, requestId, xmlEscape } from './secrets.ts';
import { renderTemplate } from './templates.ts';
import { fillRoute } from './addresses.ts';
import { publicUrl } from './urls.ts';

/**
 * An `~/.aws/credentials` profile with a fresh access key and a `config` profile whose
 * `endpoint_url` points at the public listener. Any SigV4-signed request carrying the key id
 * (Authorization header or presigned query) is a credential-use hit; the listener answers with
 * the error AWS gives for an invalid key, in the protocol the service speaks, so tools fail
 * the ordinary way.
 */

const KEY_ID = /^(AKIA|ASIA)[A-Z2-7]{16}$/;
const REGIONS = ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1', 'eu-central-1', 'eu-north-1', 'ap-southeast-2'];
const PROFILES = ['default', 'prod', 'prod-admin', 'backup', 'deploy', 'terraform', 'billing-readonly', 'ops'];

const params = z.object({
  profile: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'must be 1-40 letters, digits, _ . or -').optional().describe('Profile name (random plausible name when empty)'),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-central-1').optional().describe('Region in the config profile (random when empty)'),
  output: z.enum(['json', 'text', 'table', 'yaml']).default('json').describe('Output format in the config profile'),
  accessKeyId: z.string().trim().regex(KEY_ID, 'must be an AWS access key id: AKIA or ASIA and 16 of A-Z, 2-7').optional().describe('Access key id (generated when empty)'),
  secretAccessKey: z.string().regex(/^[A-Za-z0-9+/]{40}$/, 'must be 40 letters, digits, + or /, like an AWS secret access key').optional().describe('Secret access key (generated when empty)'),
});
type AwsParams = z.infer<typeof params>;

/** A SigV4 credential scope as found in a request, or null when the request is not SigV4-signed. */
export interface SigV4 {
  keyId: string;
  date: string;
  region: string;
  service: string;
  presigned: boolean;
  signedHeaders: string | null;
}

const SCOPE = /^([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,64})\/aws4_request$/;

/** Parse the SigV4 credential scope from the Authorization header or a presigned URL; malformed input gives null. */
export function parseSigV4(req: HttpRequestInfo): SigV4 | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.length <= 4096 && /^AWS4-HMAC-SHA256\s/i.test(auth)) {
    const credential = /Credential=([^,\s]+)/.exec(auth)?.[1];
    const scope = credential ? SCOPE.exec(credential) : null;
    if (!scope) return null;
    const signedHeaders = /SignedHeaders=([a-z0-9;_.-]{1,1024})/i.exec(auth)?.[1] ?? null;
    return { keyId: scope[1] ?? '', date: scope[2] ?? '', region: scope[3] ?? '', service: scope[4] ?? '', presigned: false, signedHeaders };
  }
  const credential = req.query.get('X-Amz-Credential');
  if (credential && req.query.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256') {
    const scope = SCOPE.exec(credential);
    if (!scope) return null;
    return { keyId: scope[1] ?? '', date: scope[2] ?? '', region: scope[3] ?? '', service: scope[4] ?? '', presigned: true, signedHeaders: req.query.get('X-Amz-SignedHeaders') };
  }
  return null;
}

/** The API action: JSON protocol target header, query/form `Action`, or the REST verb and path. */
function actionOf(req: HttpRequestInfo, sig: SigV4 | null, relPath: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target) return clipText(target.slice(target.lastIndexOf('.') + 1), 128) ?? '';
  const action = req.query.get('Action') ?? formBody(req)?.get('Action');
  if (action) return clipText(action, 128) ?? '';
  if (sig?.service === 's3' && req.method === 'GET' && (relPath === '/' || relPath === '')) return 'ListBuckets';
  return clipText(`${req.method} ${relPath || '/'}`, 128) ?? '';
}

function relativePath(req: HttpRequestInfo, t: Token<AwsParams>): string {
  const base = t.urlPath ?? '';
  return base && req.path.startsWith(base) ? req.path.slice(base.length) || '/' : req.path;
}

function describe(req: HttpRequestInfo, t: Token<AwsParams>): HitFacts {
  const sig = parseSigV4(req);
  const ua = req.headers['user-agent'];
  const details = {
    signed: sig !== null,
    service: sig?.service ?? null,
    region: sig?.region ?? null,
    action: actionOf(req, sig, relativePath(req, t)),
    keyId: sig?.keyId ?? null,
    presigned: sig?.presigned ?? false,
    signedDate: sig?.date ?? null,
    userAgent: clipText(typeof ua === 'string' ? ua : null, 512),
  };
  if (!sig) return { details: { ...details, note: 'endpoint contacted without a SigV4 signature' } };
  if (sig.keyId !== t.params.accessKeyId) return { classification: 'probe', details: { ...details, note: 'signed with a key that is not the planted one' } };
  return { credential: sig.keyId, details };
}

/** Discovery and collection the API action shows, besides the key's use (T1078.004). */
function actionTechniques(service: string | null, action: string): string[] {
  if (/^GetCallerIdentity$/.test(action)) return ['T1033'];
  if (service === 'iam' && /^(List|Get)/.test(action)) return ['T1087.004'];
  if (service === 's3' && /^(ListBuckets|ListObjects|GET \/$)/.test(action)) return ['T1619'];
  if (service === 's3' && /^(GetObject|GET \/.)/.test(action)) return ['T1530'];
  if (service === 'secretsmanager' || service === 'ssm') return ['T1555.006'];
  if (/^Describe|^List/.test(action)) return ['T1580'];
  return [];
}

/** The key id as alerts show it: enough to find the decoy, not the whole id. */
const maskedKeyId = (id: string) => (id.length > 8 ? `${id.slice(0, 4)}…${id.slice(-4)}` : id);

function explain(hit: StoredHit): HitMeaning {
  const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
  const service = detail(hit.details, 'service');
  const action = detail(hit.details, 'action') ?? `${hit.method ?? 'GET'} ${hit.path ?? '/'}`;
  const region = detail(hit.details, 'region');
  const call = `${service ? `${service}:` : ''}${action}${region ? ` in ${region}` : ''}`;
  if (hit.credential) {
    return { action: `${client} called ${call} with key ${maskedKeyId(hit.credential)}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078.004', ...actionTechniques(service, action)] };
  }
  const keyId = detail(hit.details, 'keyId');
  if (keyId) return { action: `${client} called ${call} signed with another key (${maskedKeyId(keyId)})`, evidence: 'credential-found', techniques: ['T1552.001'] };
  return { action: `${client} contacted the AWS endpoint without signing (${action})`, evidence: 'credential-found', techniques: ['T1552.001'] };
}

const XML = { 'content-type': 'text/xml' };

function respond(req: HttpRequestInfo): HttpReply {
  const sig = parseSigV4(req);
  const id = requestId();
  const target = req.headers['x-amz-target'];
  const contentType = String(req.headers['content-type'] ?? '');
  if (!sig) {
    return { status: 403, headers: { ...XML, 'x-amzn-requestid': id }, body: queryError('Sender', 'MissingAuthenticationToken', 'Request is missing Authentication Token', id) };
  }
  if (typeof target === 'string' || /application\/x-amz-json/i.test(contentType)) {
    const body = JSON.stringify({ __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
    return { status: 400, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': id }, body };
  }
  if (sig.service === 's3') {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><AWSAccessKeyId>${xmlEscape(sig.keyId)}</AWSAccessKeyId><RequestId>${id.replace(/-/g, '').slice(0, 16).toUpperCase()}</RequestId><HostId>${randomString(AWS_SECRET_ALPHABET, 76)}</HostId></Error>`;
    return { status: 403, headers: { 'content-type': 'application/xml', 'x-amz-request-id': id.replace(/-/g, '').slice(0, 16).toUpperCase() }, body };
  }
  if (sig.service === 'ec2') {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>${id}</RequestID></Response>`;
    return { status: 401, headers: XML, body };
  }
  const isQuery = req.query.has('Action') || /application\/x-www-form-urlencoded/i.test(contentType);
  if (!isQuery) {
    // REST-JSON services (Lambda, API Gateway …) put the error type in a header.
    const body = JSON.stringify({ message: 'The security token included in the request is invalid.' });
    return { status: 403, headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'UnrecognizedClientException:', 'x-amzn-requestid': id }, body };
  }
  return { status: 403, headers: { ...XML, 'x-amzn-requestid': id }, body: queryError('Sender', 'InvalidClientTokenId', 'The security token included in the request is invalid.', id) };
}

function queryError(type: string, code: string, message: string, id: string): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${message}</Message>\n  </Error>\n  <RequestId>${id}</RequestId>\n</ErrorResponse>\n`;
}

function endpoint(ctx: { config: { PUBLIC_URL: string } }, t: Token<AwsParams>): string {
  return publicUrl(ctx.config, t.urlPath ?? '/');
}

/** The two files, as they sit in a home folder. */
export function awsFiles(ctx: { config: { PUBLIC_URL: string } }, t: Token<AwsParams>): { credentials: string; config: string } {
  const profile = t.params.profile ?? 'default';
  return {
    credentials: renderTemplate('tokens/aws-keys/credentials.hbs', { profile, accessKeyId: t.params.accessKeyId, secretAccessKey: t.params.secretAccessKey }, 'text'),
    config: renderTemplate(
      'tokens/aws-keys/config.hbs',
      { configSection: profile === 'default' ? 'default' : `profile ${profile}`, region: t.params.region, output: t.params.output, endpointUrl: endpoint(ctx, t) },
      'text',
    ),
  };
}

/** AWS access keys whose config points the SDK/CLI at Honeytrail: any signed call is a hit (T1078.004). */
export const awsKeys = defineKind<AwsParams>({
  id: 'aws-keys',
  label: 'AWS access keys',
  description:
    'An ~/.aws/credentials + config profile with a fresh access key whose endpoint points at Honeytrail. Any SigV4-signed call with the key is recorded with service, region and action.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078.004'],
  params,
  example: { profile: 'prod-admin', region: 'eu-central-1' },
  generated: ['accessKeyId', 'secretAccessKey'],
  searchTerms: (t) => [t.params.accessKeyId ?? ''],
  create(ctx, id, p) {
    // Every key of a deployment decodes to the organisation's one AWS account.
    const accessKeyId = p.accessKeyId ?? awsKeyIdFor(awsAccountId(organisationName(ctx.config)));
    const secretAccessKey = p.secretAccessKey ?? randomString(AWS_SECRET_ALPHABET, 40);
    const urlPath = fillRoute(choose([`/${choose(ctx.config.URL_PATH_WORDS)}/{hex}`, '/aws/{word}-{b36}', '/proxy/sts/{num}', '/{b62}']));
    return {
      params: { ...p, profile: p.profile ?? choose(PROFILES), region: p.region ?? choose(REGIONS), accessKeyId, secretAccessKey },
      lookupKey: accessKeyId,
      urlPath,
    };
  },
  artifact(ctx, t) {
    return {
      url: endpoint(ctx, t),
      filename: `aws-${t.params.profile ?? 'default'}.zip`,
      contentType: 'application/zip',
      hint: `Unzip in a home folder (gives .aws/credentials and .aws/config, profile "${t.params.profile ?? 'default'}"), or paste both sections into existing files. Access key id: ${t.params.accessKeyId ?? ''}.`,
    };
  },
  render(ctx, t) {
    const files = awsFiles(ctx, t);
    const mtime = backdate(7, 300);
    const zip = zipSync(
      { '.aws/credentials': [Buffer.from(files.credentials), { mtime }], '.aws/config': [Buffer.from(files.config), { mtime }] },
      { level: 6 },
    );
    return { filename: `aws-${t.params.profile ?? 'default'}.zip`, contentType: 'application/zip', body: Buffer.from(zip) };
  },
  explain,
  http: {
    lookupKey(req) {
      const sig = parseSigV4(req);
      return sig && KEY_ID.test(sig.keyId) ? sig.keyId : null;
    },
    describe,
    respond,
  },
});
