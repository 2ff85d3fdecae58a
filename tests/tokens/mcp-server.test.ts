import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import type { TokenRow } from '../../src/db/schema.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { MAX_BATCH } from '../../src/tokens/mcp-server.ts';
import { findKind } from '../../src/tokens/registry.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * The mcp-server kind against the official MCP TypeScript SDK client, configured only from the
 * file the defender plants: connect, list tools, call one; every step a hit.
 */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 200, order: 'asc' });

interface Entry {
  type?: string;
  url: string;
  headers: Record<string, string>;
}

async function planted(params: Record<string, unknown> = {}, format?: string): Promise<{ token: TokenRow; json: Record<string, Record<string, unknown>> }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'mcp-server', params });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, format);
  return { token, json: JSON.parse(file.body.toString('utf8')) as Record<string, Record<string, unknown>> };
}

/** The one server entry of an mcpServers-style file. */
function entryOf(json: Record<string, Record<string, unknown>>, key = 'mcpServers'): Entry {
  const servers = json[key] ?? {};
  const names = Object.keys(servers);
  expect(names).toHaveLength(1);
  return servers[names[0] ?? ''] as Entry;
}

async function connect(entry: Entry, name = 'claude-code', version = '2.0.14'): Promise<Client> {
  const client = new Client({ name, version });
  await client.connect(new StreamableHTTPClientTransport(new URL(entry.url), { requestInit: { headers: entry.headers } }));
  return client;
}

const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } });

describe('mcp-server kind: the official SDK client with the planted .mcp.json', () => {
  it('connects, lists the tools and calls one; the connect and the call are hits', async () => {
    const { token, json } = await planted({ serverName: 'platform-ops' });
    const entry = entryOf(json);
    expect(entry.type).toBe('http');
    expect(entry.url).toBe(`${s.config.PUBLIC_URL}${token.urlPath}`);
    expect(entry.headers.Authorization).toMatch(/^Bearer \S{40,}$/);
    const client = await connect(entry);
    expect(client.getServerVersion()).toMatchObject({ name: 'platform-ops' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['secrets_read', 'deploy_service', 'db_query']));
    const res = await client.callTool({ name: 'db_query', arguments: { database: 'billing', sql: 'select * from invoices limit 5' } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain('permission denied for table invoices');
    const deploy = await client.callTool({ name: 'deploy_service', arguments: { service: 'payments-api', environment: 'production', ref: 'v1.4.2' } });
    expect(deploy.isError).toBeFalsy();
    expect(JSON.stringify(deploy.content)).toMatch(/Pipeline #\d+ queued: payments-api@v1.4.2 -> production/);
    await client.close();

    const hits = await hitsOf(token.id);
    const init = hits.find((h) => h.details?.rpc === 'initialize');
    expect(init?.details).toMatchObject({ client: { name: 'claude-code', version: '2.0.14' }, bearer: 'planted' });
    expect(init?.credential).toBeNull();
    expect(init?.classification).toBe('alert');
    const calls = hits.filter((h) => h.details?.rpc === 'tools/call');
    expect(calls).toHaveLength(2);
    expect(calls[0]?.credential).toMatch(/^platform-ops token /);
    expect(calls[0]?.details).toMatchObject({ calls: [{ tool: 'db_query', arguments: '{"database":"billing","sql":"select * from invoices limit 5"}' }] });
    // The session id given at initialize ties each call to the client that connected.
    expect(calls[0]?.details).toMatchObject({ client: { name: 'claude-code', version: '2.0.14' } });
    expect(hits.some((h) => h.details?.rpc === 'tools/list')).toBe(true);
    // The planted token is never stored in clear.
    const bearer = entry.headers.Authorization?.slice(7) ?? '';
    expect(JSON.stringify(hits)).not.toContain(bearer);
  });

  it('with pageOnConnect off, the connect is stored as noise and only the tool call alerts', async () => {
    const { token, json } = await planted({ pageOnConnect: false });
    const client = await connect(entryOf(json), 'cursor-vscode', '1.0.0');
    await client.callTool({ name: 'secrets_read', arguments: { path: 'prod/payments/stripe' } });
    await client.close();
    const hits = await hitsOf(token.id);
    const handshake = hits.filter((h) => h.details?.rpc !== 'tools/call');
    expect(handshake.length).toBeGreaterThanOrEqual(2);
    for (const h of handshake) expect(h.classification).toBe('noise');
    const call = hits.find((h) => h.details?.rpc === 'tools/call');
    expect(call?.classification).toBe('alert');
    expect(call?.credential).not.toBeNull();
  });

  it('the VS Code and Cursor variants connect too; Claude Desktop goes through mcp-remote', async () => {
    const vs = await planted({}, 'vscode');
    const vsEntry = entryOf(vs.json, 'servers');
    await (await connect(vsEntry, 'Visual Studio Code', '1.105.0')).close();
    const cursor = await planted({}, 'cursor');
    await (await connect(entryOf(cursor.json), 'cursor-vscode', '1.0.0')).close();
    expect((await hitsOf(cursor.token.id)).find((h) => h.details?.rpc === 'initialize')?.details).toMatchObject({ client: { name: 'cursor-vscode' } });
    const desktop = await planted({}, 'claude-desktop');
    const d = entryOf(desktop.json) as unknown as { command: string; args: string[]; env: Record<string, string> };
    expect(d.command).toBe('npx');
    expect(d.args).toContain(`${s.config.PUBLIC_URL}${desktop.token.urlPath}`);
    expect(d.env.MCP_AUTH_HEADER).toMatch(/^Bearer /);
  });

  it('a client without the token, or with another, is refused with 401 and recorded (another token as a probe)', async () => {
    const { token, json } = await planted();
    const entry = entryOf(json);
    await expect(connect({ ...entry, headers: {} })).rejects.toThrow();
    await expect(connect({ ...entry, headers: { Authorization: 'Bearer mcp_not-the-planted-one' } })).rejects.toThrow();
    const hits = await hitsOf(token.id);
    expect(hits.map((h) => [h.details?.bearer, h.classification])).toEqual([
      ['none', 'alert'],
      ['other', 'probe'],
    ]);
    expect(hits.every((h) => h.credential === null)).toBe(true);
  });
});

describe('mcp-server kind: what a hit says', () => {
  it('the token is recognised wherever it is sent (indexed lookup key), and hits read as sentences', async () => {
    const { token, json } = await planted({ serverName: 'sre-toolbox' });
    const entry = entryOf(json);
    const elsewhere = new URL('/mcp', entry.url).toString();
    const client = await connect({ ...entry, url: elsewhere }, 'claude-code', '2.0.14');
    await client.callTool({ name: 'secrets_read', arguments: { path: 'prod/db/billing-rw' } });
    await client.close();
    const hits = await hitsOf(token.id);
    const kind = findKind('mcp-server');
    const said = hits.map((h) => kind?.explain?.(h, token as Token));
    expect(said.find((m) => m?.evidence === 'credential-used')).toEqual({
      action: 'the MCP client claude-code 2.0.14 called secrets_read({"path":"prod/db/billing-rw"}) on MCP server "sre-toolbox"',
      evidence: 'credential-used',
      techniques: ['T1552.001', 'T1078', 'T1555.006', 'T1552'],
    });
    expect(said[0]?.action).toBe('the MCP client claude-code 2.0.14 connected to MCP server "sre-toolbox" with the planted token');
  });
});

describe('mcp-server kind: hostile input', () => {
  it('malformed JSON-RPC gets JSON-RPC errors, never a crash, and each is recorded', async () => {
    const { token, json } = await planted();
    const { url, headers } = entryOf(json);
    const cases: [string, number, number][] = [
      ['{"jsonrpc":"2.0","id":1,"method":', 400, -32700],
      ['[]', 400, -32600],
      ['{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600],
      ['{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', 400, -32600],
      ['"just a string"', 400, -32600],
      [`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 400, -32600],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(url, body, headers);
      expect(res.status, body.slice(0, 40)).toBe(status);
      expect(res.headers.get('server')).toBe('nginx');
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(code);
    }
    const unknown = await post(url, '{"jsonrpc":"2.0","id":7,"method":"sampling/evil"}', headers);
    expect(await unknown.json()).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32601, message: 'Method not found' } });
    const noTool = await post(url, '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"rm_rf"}}', headers);
    expect(((await noTool.json()) as { error: { code: number } }).error.code).toBe(-32602);
    const wrongType = await post(url, '{"jsonrpc":"2.0","id":9,"method":"ping"}', { ...headers, 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect((await hitsOf(token.id)).length).toBe(cases.length + 3);
  });

  it('deeply nested or huge tool arguments are stored as a bounded preview', async () => {
    const { token, json } = await planted();
    const { url, headers } = entryOf(json);
    // Built as text: JSON.stringify itself overflows the stack on nesting this deep.
    const deep = `${'{"a":'.repeat(8_000)}"x"${'}'.repeat(8_000)}`;
    const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'v'.repeat(50)])));
    for (const args of [deep, wide]) {
      const res = await post(url, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secrets_list","arguments":${args}}}`, headers);
      expect(res.status).toBe(200);
    }
    const calls = (await hitsOf(token.id)).map((h) => (h.details?.calls as { arguments: string }[])[0]?.arguments ?? '');
    expect(calls).toHaveLength(2);
    for (const a of calls) expect(a.length).toBeLessThanOrEqual(1025);
    expect(calls[0]).toContain('{…}');
  });

  it('an oversized body gets nginx’s 413 and no hit; a batch flood is refused as a whole', async () => {
    const { token, json } = await planted();
    const { url, headers } = entryOf(json);
    const big = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'db_query', arguments: { sql: 'x'.repeat(1_100_000) } } }), headers);
    expect(big.status).toBe(413);
    expect(await hitsOf(token.id)).toHaveLength(0);
    const ping = (id: number) => ({ jsonrpc: '2.0', id, method: 'ping' });
    const flood = await post(url, JSON.stringify(Array.from({ length: 1_200 }, (_, i) => ping(i))), headers);
    expect(flood.status).toBe(400);
    expect(((await flood.json()) as { error: { message: string } }).error.message).toContain(`at most ${MAX_BATCH}`);
    const ok = await post(url, JSON.stringify([ping(1), ping(2), { jsonrpc: '2.0', method: 'notifications/initialized' }]), headers);
    expect(await ok.json()).toEqual([
      { jsonrpc: '2.0', id: 1, result: {} },
      { jsonrpc: '2.0', id: 2, result: {} },
    ]);
    const only = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
    expect(only.status).toBe(202);
    expect(await hitsOf(token.id)).toHaveLength(3);
    // The listener still answers the SDK client afterwards.
    await (await connect(entryOf(json))).close();
  });
});
