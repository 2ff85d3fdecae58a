import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { getFrom, waitFor } from './support.ts';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('SMTP transport', () => {
  it('upgrades with STARTTLS and authenticates with the credentials in SMTP_URL', async () => {
    const seen: { secure: boolean; user: string | undefined; subject: string | undefined }[] = [];
    // smtp-server offers STARTTLS with its built-in self-signed certificate.
    const server = new SMTPServer({
      logger: false,
      disableReverseLookup: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'alerts' && auth.password === 's3cret/pass') cb(null, { user: 'alerts' });
        else cb(new Error('bad credentials'));
      },
      onData(stream, session, cb) {
        simpleParser(stream).then((m) => {
          seen.push({ secure: session.secure, user: session.user as string | undefined, subject: m.subject });
          cb();
        }, cb);
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const port = (server.server.address() as AddressInfo).port;
    const srv: TestServer = await startTestServer({
      SMTP_URL: `smtp://alerts:${encodeURIComponent('s3cret/pass')}@127.0.0.1:${port}/?tls.rejectUnauthorized=false`,
      ALERT_TO: 'soc@corp.example',
      ALERT_POLL_MS: '50',
    });
    cleanups.push(() => srv.stop());
    const { url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug', name: 'tls test' });
    await getFrom(url ?? '');
    const m = await waitFor(() => seen[0], 10_000, 'authenticated mail');
    expect(m).toMatchObject({ secure: true, user: 'alerts' });
    expect(m.subject).toMatch(/^\[Honeytrail #\d+\] \[HIGH\] Decoy touched: "tls test"/);
  });
});
