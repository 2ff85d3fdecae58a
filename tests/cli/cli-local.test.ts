import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN } from './serve-process.ts';
import { startTestServer, tempDir, TEST_API_KEY } from '../helpers.ts';

/**
 * CLI commands that need no shared server: the alert drill against a server of its own and the
 * admin commands on a local database. A file of their own so they run beside tests/cli/cli.test.ts.
 */
const run = promisify(execFile);
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HONEYTRAIL_API_KEY: TEST_API_KEY };

describe('honeytrail CLI: drill and local admin commands', () => {
  it('drill reports each channel and exits 0 only when all delivered', async () => {
    const { smtpSink } = await import('../alerts/support.ts');
    const sink = await smtpSink();
    const srv = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${sink.port}` });
    const drillEnv = { ...env, HONEYTRAIL_SERVER: srv.adminUrl };
    try {
      const ok = await run(process.execPath, [BIN, 'drill', '--email', 'soc@corp.example'], { env: drillEnv, timeout: 60_000 });
      expect(ok.stdout).toMatch(/^ok\s+email\tsoc@corp\.example/m);
      expect(sink.mails).toHaveLength(1);
      expect(sink.mails[0]?.mail.subject).toMatch(/^\[TEST\] Drill:/);
      const failed = await run(process.execPath, [BIN, 'drill', '--webhook', 'http://127.0.0.1:9/hook'], { env: drillEnv, timeout: 60_000 }).then(
        () => ({ code: 0, stdout: '' }),
        (e: { code: number; stdout: string }) => e,
      );
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/^FAILED webhook\thttp:\/\/127\.0\.0\.1:9\/hook/m);
    } finally {
      await srv.stop();
      await sink.close();
    }
  });

  it('admin create, admin reset-password and api-key create work on the local database', async () => {
    const t = tempDir();
    try {
      const localEnv = { PATH: process.env.PATH, DATABASE_URL: `file:${join(t.dir, 'local.db')}`, DATA_DIR: t.dir };
      const admin = await run(process.execPath, [BIN, 'admin', 'create', '--email', 'Ops@Corp.example'], { env: localEnv, timeout: 60_000 });
      expect(admin.stdout).toMatch(/created admin ops@corp\.example\npassword: \S{20,}/);
      const again = await run(process.execPath, [BIN, 'admin', 'create', '--email', 'ops@corp.example'], { env: localEnv, timeout: 60_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/already exists/);
      const key = await run(process.execPath, [BIN, 'api-key', 'create', '--name', 'siem', '--json'], { env: localEnv, timeout: 60_000 });
      const created = JSON.parse(key.stdout) as { key: string; name: string };
      expect(created.name).toBe('siem');
      expect(created.key).toMatch(/^ht_/);
      const { openDatabase, closeDatabase } = await import('../../src/db/client.ts');
      const { findActiveApiKey } = await import('../../src/db/queries/api-keys.ts');
      const { findUserByEmail } = await import('../../src/db/queries/users.ts');
      const db = openDatabase({ path: join(t.dir, 'local.db') });
      expect((await findActiveApiKey(db, created.key))?.name).toBe('siem');
      expect(await findUserByEmail(db, 'ops@corp.example')).toBeDefined();
      closeDatabase(db);
      // A local password reset (issue 19): a new generated password that verifies, the old one no longer.
      const oldPassword = /password: (\S+)/.exec(admin.stdout)?.[1] ?? '';
      const reset = await run(process.execPath, [BIN, 'admin', 'reset-password', '--email', 'ops@corp.example'], { env: localEnv, timeout: 60_000 });
      expect(reset.stdout).toMatch(/reset the password of ops@corp\.example/);
      const newPassword = /password: (\S+)/.exec(reset.stdout)?.[1] ?? '';
      const { verifyPassword } = await import('../../src/admin/passwords.ts');
      const after = openDatabase({ path: join(t.dir, 'local.db') });
      const user = await findUserByEmail(after, 'ops@corp.example');
      expect(await verifyPassword(newPassword, user?.passwordHash ?? '')).toBe(true);
      expect(await verifyPassword(oldPassword, user?.passwordHash ?? '')).toBe(false);
      closeDatabase(after);
    } finally {
      t.cleanup();
    }
  }, 90_000);
});
