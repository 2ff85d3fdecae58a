import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHit } from '../factories.ts';
import { makeToken, startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.ts';

/**
 * What the CLI prints from hits reaches the operator's terminal (issue 15): an intruder's user
 * agent with ESC sequences or a C1 CSI (U+009B) must arrive as visible escapes, never as
 * control characters, and no hit may add a line or a column.
 */
const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/honeytrail.js');
/** Everything a terminal may act on, except the tab and newline the CLI itself writes between columns and rows. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

let s: TestServer;
let tokenId: string;
const home = tempDir('honeytrail-cli-out-');
beforeAll(async () => {
  s = await startTestServer();
  const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'bait\u001b[2J\u009b31m\tname' });
  tokenId = token.id;
  // Over the wire (Node refuses ESC in a header; bytes 0x9b and 0x85 arrive as U+009B and U+0085).
  const target = new URL(url ?? '');
  await new Promise<void>((resolve, reject) => {
    const sock = connect(Number(target.port), '127.0.0.1', () =>
      sock.end(Buffer.from(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: x\r\nUser-Agent: curl \x9b2J \x85next\tcol\r\nConnection: close\r\n\r\n`, 'latin1')),
    );
    sock.on('data', () => {});
    sock.on('end', () => resolve());
    sock.on('error', reject);
  });
  await makeHit(s.app.deps.db, tokenId, { userAgent: 'x\u2028y\u2029z\u007f\u001b]0;owned\u0007', actorUser: 'adm\u001b[1A', actorDomain: 'CORP\r', actorHost: 'WS\u009b' });
});
afterAll(async () => {
  await s.stop();
  home.cleanup();
});

async function cli(args: string[]): Promise<string> {
  const r = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HONEYTRAIL_SERVER: s.adminUrl, HONEYTRAIL_API_KEY: TEST_API_KEY, DATA_DIR: home.dir }, timeout: 60_000 });
  return r.stdout;
}

describe('CLI output from hits', () => {
  it('hits: control characters are printed as visible escapes, one line and seven columns per hit', async () => {
    const out = await cli(['hits', '--token', tokenId]);
    expect(out).not.toMatch(CONTROL);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.split('\t')).toHaveLength(7);
    expect(out).toContain('curl \\x9b2J \\x85next\\x09col');
    expect(out).toContain('x\\u2028y\\u2029z\\x7f\\x1b]0;owned\\x07');
    expect(out).toContain('CORP\\x0d\\adm\\x1b[1A@WS\\x9b');
  });

  it('hits --json and list: JSON lines with every control character escaped', async () => {
    const json = await cli(['hits', '--token', tokenId, '--json']);
    expect(json).not.toMatch(CONTROL);
    const rows = json.trimEnd().split('\n').map((l) => JSON.parse(l) as { userAgent: string });
    expect(rows.map((r) => r.userAgent)).toContain('x\u2028y\u2029z\u007f\u001b]0;owned\u0007');
    const list = await cli(['list']);
    expect(list).not.toMatch(CONTROL);
    expect(list).toContain('bait\\x1b[2J\\x9b31m\\x09name');
  });

  it('export to a pipe is the server bytes, and JSON Lines hold no raw control characters', async () => {
    const out = await cli(['export', 'hits', '--format', 'jsonl', '--token', tokenId]);
    expect(out).not.toMatch(CONTROL);
    expect(out.trimEnd().split('\n')).toHaveLength(2);
  });
});
