import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A mail the sink accepted: SMTP envelope recipients and the parsed message. */
export interface ReceivedMail {
  rcptTo: string[];
  mailFrom: string;
  mail: ParsedMail;
  acceptedAt: number;
}

/** A real SMTP server on 127.0.0.1 (no TLS, no auth) that parses every message it accepts. */
export async function smtpSink(port = 0): Promise<{ port: number; mails: ReceivedMail[]; close(): Promise<void> }> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    disableReverseLookup: true,
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          mails.push({
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            mail,
            acceptedAt: Date.now(),
          });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.server.address() as AddressInfo).port;
  return { port: bound, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Poll `check` until it returns a truthy value (bounded: fails after `ms`). `what` names the
 * condition in the timeout error; a function is called then, to describe what was last seen.
 */
export async function waitFor<T>(check: () => T | Promise<T>, ms = 10_000, what: string | (() => string) = 'condition'): Promise<Exclude<T, null | undefined | false | 0 | ''>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, null | undefined | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET a URL from a chosen loopback source address (127.0.0.2 … varies the hit's source). */
export function getFrom(url: string, localAddress = '127.0.0.1', headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { localAddress, headers: { 'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A local webhook receiver recording each request's headers and raw body. */
export async function webhookReceiver(status = 200): Promise<{ url: string; requests: { headers: http.IncomingHttpHeaders; body: string; path: string }[]; close(): Promise<void> }> {
  const requests: { headers: http.IncomingHttpHeaders; body: string; path: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      requests.push({ headers: req.headers, body, path: req.url ?? '' });
      if (status >= 300 && status < 400) res.writeHead(status, { Location: 'http://127.0.0.1:9/elsewhere' });
      else res.writeHead(status);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
