import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken, listTokens } from '../../src/db/queries/tokens.ts';
import { getFrom } from '../alerts/support.ts';
import { BIN, runCli } from './serve-process.ts';
import { makeToken, startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.ts';

let s: TestServer;
let share: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await startTestServer();
  share = tempDir('honeytrail-share-');
  env = { PATH: process.env.PATH, HONEYTRAIL_SERVER: s.adminUrl, HONEYTRAIL_API_KEY: TEST_API_KEY, DATA_DIR: share.dir };
});
afterAll(async () => {
  await s.stop();
  share.cleanup();
});

const cli = (args: string[]) => runCli(args, env);

describe('honeytrail CLI', () => {
  it('prints help and refuses unknown commands with exit 2', async () => {
    expect((await cli(['--help'])).stdout).toMatch(/usage: honeytrail <command>/);
    expect((await cli(['plant', '--help'])).stdout).toMatch(/--dry-run/);
    const bad = await cli(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('plants one token into a folder, records location and host, and never overwrites', async () => {
    const dir = join(share.dir, 'finance');
    const r = await cli(['plant', '--kind', 'redirect', '--name', 'Budget portal', '--dir', dir, '--host', 'FS01', '--param', 'target=https://intranet.example.com/', '--json']);
    expect(r.code).toBe(0);
    const outcome = JSON.parse(r.stdout);
    expect(outcome.status).toBe('planted');
    expect(readFileSync(outcome.file, 'utf8')).toMatch(/^\[InternetShortcut\]\r\nURL=http:\/\/127\.0\.0\.1:\d+\//);
    expect(await getToken(s.app.deps.db, outcome.tokenId)).toMatchObject({ location: dir, plantedHost: 'FS01', kind: 'redirect' });

    const again = await cli(['plant', '--kind', 'redirect', '--name', 'Budget portal', '--dir', dir, '--param', 'target=https://intranet.example.com/']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists \(use --force to overwrite\)/);
    // The refusal left no second token behind.
    expect((await listTokens(s.app.deps.db, { kind: 'redirect', limit: 10, offset: 0 })).total).toBe(1);
  });

  it('reports API validation errors with field messages', async () => {
    const r = await cli(['plant', '--kind', 'redirect', '--name', 'x', '--dir', join(share.dir, 'bad'), '--param', 'target=http://not-https.example']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/params\.target: must be an https:\/\/ URL/);
    expect(existsSync(join(share.dir, 'bad'))).toBe(false);
  });

  it('dry-run writes and creates nothing', async () => {
    const before = (await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total;
    const r = await cli(['plant', '--kind', 'web-bug', '--name', 'dry', '--dir', join(share.dir, 'dry'), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run/);
    expect(existsSync(join(share.dir, 'dry'))).toBe(false);
    expect((await listTokens(s.app.deps.db, { limit: 1, offset: 0 })).total).toBe(before);
  });

  it('bulk-plants a 50-row plan with progress and a summary; a second run plants nothing new', async () => {
    const rows = ['kind,folder,host,name,params'];
    for (let i = 0; i < 50; i++) {
      const kind = i % 2 ? 'web-bug' : 'redirect';
      const params = kind === 'redirect' ? '"{""target"":""https://wiki.example.com/""}"' : '';
      rows.push(`${kind},${join(share.dir, 'bulk', `dept${i % 5}`)},FS0${i % 3},Decoy ${i},${params}`);
    }
    const plan = join(share.dir, 'plan.csv');
    writeFileSync(plan, rows.join('\n'));
    const first = await cli(['plant', '--from', plan]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/planting: 50\/50/);
    expect(first.stderr).toMatch(/summary: 50 planted, 0 would be planted, 0 skipped, 0 failed \(50 rows\)/);
    const files = readdirSync(join(share.dir, 'bulk'), { recursive: true }).filter((f) => /\.(url|html)$/.test(String(f)));
    expect(files).toHaveLength(50);

    const second = await cli(['plant', '--from', plan]);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/summary: 0 planted, 0 would be planted, 50 skipped, 0 failed/);
  });

  it('refuses an invalid plan before planting anything', async () => {
    const plan = join(share.dir, 'bad-plan.csv');
    writeFileSync(plan, 'kind,folder,name,colour\nweb-bug,/tmp/x,ok,blue\n');
    const r = await cli(['plant', '--from', plan]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown column\(s\) colour/);
  });

  it('lists, follows hits, and retires a token removing its file', async () => {
    const dir = join(share.dir, 'follow');
    const planted = JSON.parse((await cli(['plant', '--kind', 'web-bug', '--name', 'Followed', '--dir', dir, '--json'])).stdout);
    const list = await cli(['list', '--kind', 'web-bug']);
    expect(list.stdout).toContain(planted.tokenId);

    const follower = spawn(process.execPath, [BIN, 'hits', '--follow', '--interval', '0.3', '--token', planted.tokenId], { env });
    let output = '';
    follower.stdout.on('data', (d) => (output += String(d)));
    await new Promise((r) => setTimeout(r, 1500));
    await fetch(readFileSync(planted.file, 'utf8').match(/src="([^"]+)"/)?.[1] ?? '', { headers: { 'user-agent': 'followed-agent' } });
    for (let i = 0; i < 50 && !output.includes('followed-agent'); i++) await new Promise((r) => setTimeout(r, 200));
    follower.kill('SIGTERM');
    expect(output).toContain(planted.tokenId);
    expect(output).toContain('followed-agent');
    expect(await listHits(s.app.deps.db, { tokenId: planted.tokenId, limit: 5 })).toHaveLength(1);

    const retired = await cli(['retire', planted.tokenId, '--remove-file', planted.file]);
    expect(retired.code).toBe(0);
    expect(existsSync(planted.file)).toBe(false);
    expect((await getToken(s.app.deps.db, planted.tokenId))?.enabled).toBe(false);
  });

  it('exports hits to a file', async () => {
    const out = join(share.dir, 'hits.csv');
    const r = await cli(['export', '--format', 'csv', '--out', out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^"id","at","token_id"/);
  });

  it('imports threat intel from a list, a CSV and a STIX bundle (file or stdin), lists and removes it; hits from a listed source carry the label', async () => {
    const list = join(share.dir, 'c2.txt');
    writeFileSync(list, '# known C2\n127.0.0.44\n10.66.0.0/16\nc2.evil.example\n');
    const imported = await cli(['intel', 'import', list, '--label', 'APT-CLI', '--source', 'feed-a']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout.trim()).toBe('APT-CLI: 3 indicators read, 3 new');
    const csv = join(share.dir, 'fin.csv');
    writeFileSync(csv, 'indicator,label\n203.0.113.9,FIN-CLI\n');
    expect((await cli(['intel', 'import', csv, '--label', 'FIN-CLI'])).stdout).toMatch(/1 indicators read, 1 new/);
    const bundle = { type: 'bundle', id: 'bundle--6d8a9f3e-1111-4a2b-8c3d-123456789abd', objects: [{ type: 'indicator', id: 'indicator--6d8a9f3e-2222-4a2b-8c3d-123456789abd', pattern: "[ipv4-addr:value = '192.0.2.45']", pattern_type: 'stix' }] };
    const piped = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'intel', 'import', '-', '--label', 'STIX-CLI', '--json'], { env });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code, stdout }));
      child.stdin.end(JSON.stringify(bundle));
    });
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ label: 'STIX-CLI', received: 1, added: 1 });

    const listed = await cli(['intel', 'list']);
    expect(listed.stdout).toMatch(/^APT-CLI\tcidr\t1$/m);
    expect(listed.stdout).toMatch(/^APT-CLI\tip\t1$/m);
    expect(listed.stdout).toMatch(/^STIX-CLI\tip\t1$/m);

    const bad = join(share.dir, 'bad.txt');
    writeFileSync(bad, '1.2.3.4\nnot an indicator\n');
    const refused = await cli(['intel', 'import', bad, '--label', 'Bad']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/line 2/);
    expect((await cli(['intel', 'import', list])).code).toBe(2);

    // At once (the server that imported renews its index), a hit from the listed address carries the label.
    const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
    expect(await getFrom(url ?? '', '127.0.0.44')).toBe(200);
    expect((await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 }))[0]?.intel).toContain('APT-CLI');

    expect((await cli(['intel', 'remove', '--label', 'APT-CLI'])).stdout.trim()).toBe('removed 3 indicators labelled APT-CLI');
    expect((await cli(['intel', 'list'])).stdout).not.toContain('APT-CLI');
  }, 90_000);

  it('says clearly when the server cannot be reached', async () => {
    const r = await cli(['list', '--server', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
