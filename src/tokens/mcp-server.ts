import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { fillRoute } from './addresses.ts';
import { describeClient, detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type HttpReply, type HttpRequestInfo, type StoredHit, type Token } from './kind.ts';
import { callTool, findTool, MCP_TOOLS } from './mcp-tools.ts';
import { BASE62, bearerToken, choose, maskedPassword, randomString, secretTerm, sha256 } from './secrets.ts';
import { publicUrl } from './urls.ts';

/**
 * A Model Context Protocol client configuration (`mcpServers` entry with an HTTP URL and a
 * bearer token, in the shapes Claude Code, Claude Desktop, VS Code and Cursor read) pointing at
 * a decoy MCP server on the public listener, speaking the Streamable HTTP transport: JSON-RPC
 * over POST, answered as `application/json`. Connecting (`initialize`) is a hit naming the
 * client; each `tools/call` is another, naming the tool and its arguments (size-bounded), and is
 * the planted credential used. Whether a connect alone pages is the defender's choice
 * (`pageOnConnect`): agent clients connect to every configured server when they start.
 */

const FORMATS = ['mcp-json', 'claude-desktop', 'vscode', 'cursor'] as const;
type Format = (typeof FORMATS)[number];

const params = z.object({
  serverName: z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, 'must be 2-40 lower-case letters, digits or -').optional().describe('Server name in the client configuration (random plausible name when empty)'),
  client: z.enum(FORMATS).default('mcp-json').describe('Configuration to plant: .mcp.json (Claude Code and most agents), Claude Desktop (via mcp-remote), VS Code .vscode/mcp.json or Cursor'),
  pageOnConnect: z.boolean().default(true).describe('Page when an agent merely connects (off: connects are stored as noise; tool calls always page)'),
  token: z.string().optional().describe('Generated'),
});
type McpParams = z.infer<typeof params>;

/** What a planted token looks like (and what the listener recognises as one wherever it is sent). */
const TOKEN_SHAPE = /^(?:mcp|agt|sk-mcp)_[A-Za-z0-9]{40}$/;

/** The lookup key of a planted MCP token (a digest; the key column never holds the token). */
export function mcpLookupKey(token: string): string {
  return `mcp:${sha256(token)}`;
}

const NAMES = ['internal-tools', 'platform-ops', 'infra-gateway', 'corp-devtools', 'sre-toolbox', 'release-bot'];
const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
/** Most JSON-RPC messages handled in one POST; a larger batch is refused as a whole. */
export const MAX_BATCH = 16;
/** Longest rendering of tool arguments kept with a hit. */
const MAX_ARGS = 1024;

interface Message {
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
}
type Parsed = { ok: true; messages: Message[]; batch: boolean } | { ok: false; error: 'parse' | 'invalid' | 'batch-too-large' | 'media-type' };

/**
 * The client each session said it was at `initialize` (by the Mcp-Session-Id we gave it), so a
 * tool call names the agent that made it. Bounded; the oldest session is forgotten first.
 */
const sessions = new Map<string, { name: string | null; version: string | null }>();
const MAX_SESSIONS = 10_000;

function sessionClient(req: HttpRequestInfo): { name: string | null; version: string | null } | undefined {
  const id = req.headers['mcp-session-id'];
  return typeof id === 'string' ? sessions.get(id) : undefined;
}

// describe and respond see the same request object: parse its body once.
const parsedBodies = new WeakMap<HttpRequestInfo, Parsed>();

function parse(req: HttpRequestInfo): Parsed {
  const cached = parsedBodies.get(req);
  if (cached) return cached;
  const result = parseBody(req);
  parsedBodies.set(req, result);
  return result;
}

function parseBody(req: HttpRequestInfo): Parsed {
  if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) return { ok: false, error: 'media-type' };
  let value: unknown;
  try {
    value = JSON.parse(req.body.toString('utf8'));
  } catch {
    return { ok: false, error: 'parse' };
  }
  const batch = Array.isArray(value);
  const list: unknown[] = batch ? (value as unknown[]) : [value];
  if (list.length === 0) return { ok: false, error: 'invalid' };
  if (list.length > MAX_BATCH) return { ok: false, error: 'batch-too-large' };
  const messages: Message[] = [];
  for (const m of list) {
    if (!m || typeof m !== 'object' || Array.isArray(m) || (m as { jsonrpc?: unknown }).jsonrpc !== '2.0') return { ok: false, error: 'invalid' };
    const { id, method, params: p } = m as Record<string, unknown>;
    if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') return { ok: false, error: 'invalid' };
    if (method !== undefined && typeof method !== 'string') return { ok: false, error: 'invalid' };
    messages.push({ id: id as Message['id'], method: method as string | undefined, params: p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : undefined });
  }
  return { ok: true, messages, batch };
}

/**
 * A bounded rendering of attacker-supplied JSON: depth, keys and characters are capped while
 * walking, so a deeply nested or huge value costs no more than the budget (JSON.stringify would
 * recurse without bound).
 */
export function preview(value: unknown, max = MAX_ARGS): string {
  let out = '';
  const walk = (v: unknown, depth: number): void => {
    if (out.length > max) return;
    if (v === null || typeof v === 'number' || typeof v === 'boolean') out += String(v);
    else if (typeof v === 'string') out += JSON.stringify(v.length > max ? `${v.slice(0, max)}…` : v);
    else if (depth >= 6) out += Array.isArray(v) ? '[…]' : '{…}';
    else if (Array.isArray(v)) {
      out += '[';
      v.slice(0, 20).forEach((x, i) => {
        if (i) out += ',';
        walk(x, depth + 1);
      });
      out += v.length > 20 ? ',…]' : ']';
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      out += '{';
      entries.slice(0, 20).forEach(([k, x], i) => {
        out += `${i ? ',' : ''}${JSON.stringify(k.slice(0, 64))}:`;
        walk(x, depth + 1);
      });
      out += entries.length > 20 ? ',…}' : '}';
    } else out += 'null';
  };
  walk(value, 0);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

const clip = (v: unknown, max = 120): string | null => (typeof v === 'string' ? v.slice(0, max) : null);

function masked(token: string): string {
  return `${token.slice(0, 8)}…${token.slice(-4)}`;
}

function describe(req: HttpRequestInfo, t: Token<McpParams>): HitFacts {
  const bearer = bearerToken(req);
  const ours = bearer !== null && bearer === t.params.token;
  const parsed = req.method === 'POST' ? parse(req) : null;
  const details: Record<string, unknown> = { bearer: ours ? 'planted' : bearer ? 'other' : 'none' };
  if (bearer && !ours) details.token = maskedPassword(bearer, t.id);
  if (!parsed) details.rpc = req.method === 'GET' ? 'open-stream' : req.method === 'DELETE' ? 'end-session' : req.method;
  else if (!parsed.ok) details.rpc = `invalid (${parsed.error})`;
  else {
    const methods = parsed.messages.map((m) => clip(m.method, 64) ?? 'response');
    details.rpc = methods.length === 1 ? methods[0] : methods;
    const init = parsed.messages.find((m) => m.method === 'initialize')?.params;
    if (init) {
      const info = init.clientInfo as Record<string, unknown> | undefined;
      details.client = { name: clip(info?.name), version: clip(info?.version, 40) };
      details.protocolVersion = clip(init.protocolVersion, 20);
    }
    else if (sessionClient(req)) details.client = sessionClient(req);
    const calls = parsed.messages.filter((m) => m.method === 'tools/call').slice(0, 4);
    if (calls.length) details.calls = calls.map((c) => ({ tool: clip(c.params?.name, 64), arguments: preview(c.params?.arguments ?? {}) }));
  }
  if (bearer && !ours) return { classification: 'probe', details };
  if (ours && details.calls) return { credential: `${t.params.serverName ?? 'mcp'} token ${masked(t.params.token ?? '')}`, details };
  return t.params.pageOnConnect ? { details } : { classification: 'noise', details };
}

function explain(hit: StoredHit, t: Decoy<McpParams>): HitMeaning {
  const client = hit.details?.client as { name?: string | null; version?: string | null } | undefined;
  const who = client?.name ? `the MCP client ${client.name}${client.version ? ` ${client.version}` : ''}` : (describeClient(hit.userAgent) ?? 'a client without a user agent');
  const server = `MCP server "${t.params.serverName ?? 'mcp'}"`;
  const calls = Array.isArray(hit.details?.calls) ? (hit.details.calls as { tool?: string | null; arguments?: string }[]) : [];
  if (calls.length) {
    const said = calls.map((c) => `${c.tool ?? '?'}(${c.arguments ?? ''})`).join(', ');
    const techniques = [...new Set(calls.flatMap((c) => findTool(c.tool ?? '')?.techniques ?? []))];
    if (hit.credential) return { action: `${who} called ${said} on ${server}`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078', ...techniques] };
    return { action: `${who} tried ${said} on ${server} without the planted token`, evidence: 'credential-found', techniques: ['T1552.001'] };
  }
  const rpc = hit.details?.rpc;
  const what = rpc === 'initialize' ? 'connected to' : `sent ${Array.isArray(rpc) ? rpc.join(', ') : (detail(hit.details, 'rpc') ?? hit.method ?? 'a request')} to`;
  const token = detail(hit.details, 'bearer') === 'planted' ? 'with the planted token' : detail(hit.details, 'bearer') === 'other' ? 'with another token' : 'without a token';
  return { action: `${who} ${what} ${server} ${token}`, evidence: 'credential-found', techniques: ['T1552.001'] };
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

function rpcError(status: number, code: number, message: string, id: Message['id'] = null): HttpReply {
  return { status, headers: JSON_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }) };
}

/** The answer to one JSON-RPC request (notifications and responses get none). */
function answer(m: Message, t: Token<McpParams>): unknown {
  const id = m.id ?? null;
  const ok = (result: unknown) => ({ jsonrpc: '2.0', id, result });
  const fail = (code: number, message: string) => ({ jsonrpc: '2.0', id, error: { code, message } });
  switch (m.method) {
    case 'initialize': {
      const asked = String(m.params?.protocolVersion ?? '');
      return ok({
        protocolVersion: PROTOCOL_VERSIONS.includes(asked) ? asked : PROTOCOL_VERSIONS[1],
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: t.params.serverName ?? 'internal-tools', version: '2.4.1' },
        instructions: 'Internal platform tools. Secrets are brokered from Vault under the agent role; production deployments need release-manager approval.',
      });
    }
    case 'ping':
      return ok({});
    case 'tools/list':
      return ok({ tools: MCP_TOOLS.map(({ techniques: _t, ...tool }) => tool) });
    case 'tools/call': {
      const tool = findTool(String(m.params?.name ?? ''));
      if (!tool) return fail(-32602, `Tool ${clip(m.params?.name, 64) ?? ''} not found`);
      const args = m.params?.arguments;
      return ok(callTool(tool, args && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : {}, t.id));
    }
    case 'resources/list':
      return ok({ resources: [] });
    case 'prompts/list':
      return ok({ prompts: [] });
    default:
      return fail(-32601, 'Method not found');
  }
}

function respond(req: HttpRequestInfo, t: Token<McpParams>): HttpReply {
  if (bearerToken(req) !== t.params.token) {
    const reply = { error: 'invalid_token', error_description: 'Missing or invalid access token' };
    return { status: 401, headers: { ...JSON_HEADERS, 'www-authenticate': 'Bearer error="invalid_token", error_description="Missing or invalid access token"' }, body: JSON.stringify(reply) };
  }
  if (req.method === 'DELETE') return { status: 200, headers: JSON_HEADERS, body: '' };
  if (req.method !== 'POST') return { ...rpcError(405, -32000, 'Method not allowed.'), headers: { ...JSON_HEADERS, allow: 'POST, DELETE' } };
  const parsed = parse(req);
  if (!parsed.ok) {
    if (parsed.error === 'media-type') return rpcError(415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    if (parsed.error === 'parse') return rpcError(400, -32700, 'Parse error');
    return rpcError(400, -32600, parsed.error === 'batch-too-large' ? `Invalid Request: at most ${MAX_BATCH} messages per batch` : 'Invalid Request');
  }
  const requests = parsed.messages.filter((m) => m.method !== undefined && m.id !== undefined && m.id !== null);
  if (requests.length === 0) return { status: 202, body: '' };
  const answers = requests.map((m) => answer(m, t));
  const headers: Record<string, string> = { ...JSON_HEADERS };
  const init = requests.find((m) => m.method === 'initialize');
  if (init) {
    const session = randomUUID();
    const info = init.params?.clientInfo as Record<string, unknown> | undefined;
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value ?? '');
    sessions.set(session, { name: clip(info?.name), version: clip(info?.version, 40) });
    headers['mcp-session-id'] = session;
  }
  return { status: 200, headers, body: JSON.stringify(parsed.batch ? answers : answers[0]) };
}

function endpoint(ctx: { config: { PUBLIC_URL: string } }, t: Token<McpParams>): string {
  return publicUrl(ctx.config, t.urlPath ?? '/');
}

/** The configuration file each agent client reads, with the decoy server in it. */
function configFile(format: Format, name: string, url: string, token: string): { filename: string; json: unknown } {
  const headers = { Authorization: `Bearer ${token}` };
  switch (format) {
    case 'vscode':
      return { filename: 'mcp.json', json: { servers: { [name]: { type: 'http', url, headers } } } };
    case 'cursor':
      return { filename: 'mcp.json', json: { mcpServers: { [name]: { url, headers } } } };
    case 'claude-desktop':
      // Claude Desktop starts local (stdio) servers only; remote ones go through mcp-remote, the header in env.
      return {
        filename: 'claude_desktop_config.json',
        json: { mcpServers: { [name]: { command: 'npx', args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${MCP_AUTH_HEADER}'], env: { MCP_AUTH_HEADER: headers.Authorization } } } },
      };
    default:
      return { filename: '.mcp.json', json: { mcpServers: { [name]: { type: 'http', url, headers } } } };
  }
}

const WHERE: Record<Format, string> = {
  'mcp-json': 'a repository root or ~/.claude.json-style project (.mcp.json)',
  'claude-desktop': '%APPDATA%\\Claude\\ or ~/Library/Application Support/Claude/',
  vscode: 'a workspace .vscode/ folder',
  cursor: '~/.cursor/ or a project .cursor/ folder',
};

/** A decoy MCP server for AI agents: connecting and calling its tools are hits. */
export const mcpServer = defineKind<McpParams>({
  id: 'mcp-server',
  label: 'MCP server (AI agent config)',
  description: 'An MCP client configuration (mcp.json) naming an internal-looking tool server on Honeytrail. Agents connecting to it and calling its tools are recorded.',
  channels: ['http'],
  techniques: ['T1552.001', 'T1078', 'T1555.006', 'T1072', 'T1213'],
  params,
  example: { client: 'mcp-json', pageOnConnect: true },
  internalParams: ['token'],
  formats: FORMATS,
  searchTerms: (t) => [t.params.serverName ?? '', secretTerm(t.params.token ?? '')],
  create(_ctx, id, p) {
    const serverName = p.serverName ?? choose(NAMES);
    const token = `${choose(['mcp', 'agt', 'sk-mcp'])}_${randomString(BASE62, 40)}`;
    return { params: { ...p, serverName, token }, lookupKey: mcpLookupKey(token), urlPath: fillRoute(`/${choose(['agents', 'ai', 'tools', 'copilot', 'llm'])}/{b36}/mcp`) };
  },
  artifact(ctx, t) {
    const { filename } = configFile(t.params.client, t.params.serverName ?? 'internal-tools', endpoint(ctx, t), t.params.token ?? '');
    return {
      url: endpoint(ctx, t),
      filename,
      contentType: 'application/json',
      hint: `Plant in ${WHERE[t.params.client]} on a developer or CI host. Token ${masked(t.params.token ?? '')}; ${t.params.pageOnConnect ? 'a connect pages' : 'only tool calls page'}.`,
    };
  },
  render(ctx, t, format) {
    const f = (FORMATS as readonly string[]).includes(format ?? '') ? (format as Format) : t.params.client;
    const { filename, json } = configFile(f, t.params.serverName ?? 'internal-tools', endpoint(ctx, t), t.params.token ?? '');
    return { filename, contentType: 'application/json', body: Buffer.from(`${JSON.stringify(json, null, 2)}\n`) };
  },
  explain,
  http: {
    lookupKey(req) {
      const bearer = bearerToken(req);
      return bearer && TOKEN_SHAPE.test(bearer) ? mcpLookupKey(bearer) : null;
    },
    describe,
    respond,
  },
});
