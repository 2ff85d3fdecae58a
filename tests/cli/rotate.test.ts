import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { getToken } from '../../src/db/queries/tokens.ts';
import { freshness } from '../../src/tokens/freshness.ts';
import { waitFor } from '../alerts/support.ts';
import { runCli } from './serve-process.ts';
import { startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.ts';

/** `honeytrail plant`, `rotate --write` and `verify --root` against a real server and a real folder. */

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

const keyIn = (text: string) => /[a-z]{2,6}_(?:live|test)_[A-Za-z0-9]{32}/.exec(text)?.[0] ?? '';

describe('rotation from the CLI', () => {
  it('re-plants in place: the planted file gets the new key, and the old key still fires as stale', async () => {
    const dir = join(share.dir, 'app');
    const planted = await cli(['plant', '--kind', 'api-key', '--name', 'billing env', '--dir', dir, '--filename', '.env.prod', '--param', 'format=env', '--param', 'service=Billing', '--rotate-every', '60', '--json']);
    expect(planted.code, planted.stderr).toBe(0);
    const { tokenId, file } = JSON.parse(planted.stdout) as { tokenId: string; file: string };
    expect(file).toBe(join(dir, '.env.prod'));
    expect(await getToken(s.app.deps.db, tokenId)).toMatchObject({ plantedFile: '.env.prod', rotateEveryDays: 60, location: dir });
    const oldKey = keyIn(readFileSync(file, 'utf8'));
    expect(oldKey).not.toBe('');

    const rotated = await cli(['rotate', tokenId, '--write', dir, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const r = JSON.parse(rotated.stdout) as { token: string; previous: string; generation: number; written: string; replace: { file: string; location: string } };
    expect(r).toMatchObject({ previous: tokenId, generation: 2, written: file, replace: { file: '.env.prod', location: dir } });
    // Overwritten in place, nothing else written.
    expect(readdirSync(dir)).toEqual(['.env.prod']);
    const newKey = keyIn(readFileSync(file, 'utf8'));
    expect(newKey).not.toBe(oldKey);
    expect((await getToken(s.app.deps.db, r.token))?.params.key).toBe(newKey);

    // A copy of the old file taken before the rotation still works as a tripwire, marked stale.
    await fetch(`${s.publicUrl}/v1/invoices`, { headers: { authorization: `Bearer ${oldKey}` } });
    const hit = await waitFor(async () => (await listHits(s.app.deps.db, { tokenId, limit: 5 }))[0], 5000, 'a hit with the old key');
    expect(hit.details?.stale).toMatchObject({ current: r.token });

    // Rotating the old generation again is refused with the reason.
    const twice = await cli(['rotate', tokenId]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`already rotated; rotate its newest generation (${r.token})`);

    // Without --write the command says what to replace.
    const told = await cli(['rotate', r.token]);
    expect(told.code).toBe(0);
    expect(told.stdout).toContain(`replace .env.prod in ${dir} with the new .env`);
  });

  it('verify reports planted files that are gone, and the dashboard lists them', async () => {
    const dir = join(share.dir, 'hr');
    const a = JSON.parse((await cli(['plant', '--kind', 'web-bug', '--name', 'kept', '--dir', dir, '--json'])).stdout) as { tokenId: string; file: string };
    const b = JSON.parse((await cli(['plant', '--kind', 'web-bug', '--name', 'removed', '--dir', dir, '--json'])).stdout) as { tokenId: string; file: string };
    rmSync(b.file);
    const v = await cli(['verify', '--root', dir]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`present\t${a.tokenId}\t${a.file}`);
    expect(v.stdout).toContain(`MISSING\t${b.tokenId}\t${b.file}`);
    expect(v.stderr).toContain('2 planted files checked, 1 missing');
    expect((await freshness(s.app.deps.db)).missing.map((t) => t.id)).toEqual([b.tokenId]);
    expect((await getToken(s.app.deps.db, a.tokenId))?.verifiedAt).toBeInstanceOf(Date);
    // Put back by hand: the next check clears it.
    writeFileSync(b.file, 'restored');
    expect((await cli(['verify', '--root', dir])).code).toBe(0);
    expect((await freshness(s.app.deps.db)).missing).toEqual([]);
  });
});
