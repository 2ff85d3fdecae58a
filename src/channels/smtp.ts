import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config.ts';
import type { AnyDb } from '../db/store.ts';
import { tokenLookups } from '../db/queries/tokens.ts';
import type { TokenRow } from '../db/schema.ts';
import type { HitRecorder } from '../hits/record-hit.ts';
import type { Logger } from '../logger.ts';
import type { RunningListener } from '../listeners/registry.ts';
import { isTokenId } from '../tokens/ids.ts';
import type { HitFacts, SmtpMailInfo, Token, TokenKind } from '../tokens/kind.ts';
import { findKind, KINDS } from '../tokens/registry.ts';
import { parseMail, SMTP_LIMITS } from './smtp-mail.ts';
import { postfixReply } from './smtp-postfix.ts';

/**
 * The SMTP listener: inbound mail for MAIL_DOMAIN. It looks like a stock Postfix, refuses
 * unknown recipients at RCPT (550 5.1.1) and relaying to other domains, and records a hit
 * for every token mailbox a message reaches. The message is parsed as a stream: attachments
 * are counted, never kept; only a clipped text body is stored. Every session is bounded in
 * size, idle time, total time and number; bad input is answered like Postfix and logged.
 */


/** What the SMTP listener needs: the same dependencies as the public listener. */
export interface SmtpDeps {
  config: Config;
  db: AnyDb;
  log: Logger;
  recorder: HitRecorder;
}

interface Matched {
  token: TokenRow;
  kind: TokenKind;
}

const smtpLookupKinds = (): TokenKind[] => KINDS.filter((k) => k.smtp?.lookupKey !== undefined);

/** An error smtp-server turns into a reply line with this code. */
function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Build the SMTP server (not yet listening). */
export function createSmtpServer(deps: SmtpDeps): SMTPServer {
  const { config, log } = deps;
  const lookups = tokenLookups(deps.db);
  const lookupKinds = smtpLookupKinds();
  const domain = config.MAIL_DOMAIN.toLowerCase();
  const hostname = config.SMTP_HOSTNAME ?? domain;
  /** Recipients matched to tokens, per session id. */
  const matched = new Map<string, Map<string, Matched>>();

  const findRecipient = async (localPart: string, address: string): Promise<Matched | undefined> => {
    if (isTokenId(localPart)) {
      const token = await lookups.byId(localPart);
      const kind = token ? findKind(token.kind) : undefined;
      if (token && kind?.channels.includes('smtp')) return { token, kind };
    }
    for (const kind of lookupKinds) {
      const key = kind.smtp?.lookupKey?.({ address, localPart, domain });
      if (!key) continue;
      const token = await lookups.byLookupKey(key);
      if (token && token.kind === kind.id) return { token, kind };
    }
    return undefined;
  };

  const server = new SMTPServer({
    name: hostname,
    banner: 'Postfix (Debian/GNU)',
    heloResponse: '%s',
    secure: false,
    // Postfix knows no HELP and none of the library's joke commands; VRFY and ETRN are Postfix's own (speakPostfix).
    disabledCommands: ['AUTH', 'STARTTLS', 'HELP', 'WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'],
    hideSTARTTLS: true,
    hidePIPELINING: false,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    size: config.SMTP_MAX_MESSAGE_BYTES,
    maxClients: config.SMTP_MAX_CONNECTIONS,
    maxRecipients: SMTP_LIMITS.maxRecipients,
    socketTimeout: config.SMTP_IDLE_TIMEOUT,
    closeTimeout: 5_000,
    onConnect(session, callback) {
      log.debug({ event: 'smtp-connect', clientIp: session.remoteAddress }, 'smtp connection');
      callback();
    },
    onMailFrom(_address, _session, callback) {
      callback();
    },
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback) {
      const rcpt = address.address.toLowerCase();
      const at = rcpt.lastIndexOf('@');
      if (at <= 0) return callback(smtpError(501, `<${clip(rcpt, 100)}>: Recipient address rejected: need fully-qualified address`));
      const localPart = rcpt.slice(0, at);
      if (rcpt.slice(at + 1) !== domain) {
        log.info({ event: 'smtp-relay-denied', clientIp: session.remoteAddress, rcpt: clip(rcpt, 200) }, 'smtp relay attempt refused');
        return callback(smtpError(454, `<${clip(rcpt, 200)}>: Relay access denied`));
      }
      findRecipient(localPart, rcpt).then(
        (found) => {
          if (!found) {
            log.info({ event: 'smtp-unknown-recipient', clientIp: session.remoteAddress, rcpt: clip(rcpt, 200) }, 'smtp recipient unknown');
            return callback(smtpError(550, `<${clip(rcpt, 200)}>: Recipient address rejected: User unknown in virtual mailbox table`));
          }
          let forSession = matched.get(session.id);
          if (!forSession) matched.set(session.id, (forSession = new Map()));
          forSession.set(rcpt, found);
          callback();
        },
        (err: unknown) => {
          log.error({ err, clientIp: session.remoteAddress }, 'smtp recipient lookup failed');
          callback(smtpError(451, 'Error: queue file write error'));
        },
      );
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const recipients = matched.get(session.id) ?? new Map<string, Matched>();
      matched.delete(session.id);
      receive(stream, session, recipients, deps)
        .then((result) => {
          if (result.oversize) return callback(smtpError(552, 'Error: message file too big'));
          callback(null, `Ok: queued as ${queueId()}`);
        })
        .catch((err: unknown) => {
          log.error({ err, clientIp: session.remoteAddress }, 'smtp message could not be recorded');
          callback(smtpError(451, 'Error: queue file write error'));
        });
    },
    onClose(session) {
      matched.delete(session.id);
    },
  });

  // Every connection speaks Postfix's words (smtp-postfix.ts), and answers VRFY and ETRN as Postfix does.
  const library = server as unknown as { connect(socket: Socket, options: unknown): void; connections: Set<LibraryConnection> };
  const connect = library.connect.bind(server);
  library.connect = (socket, options) => {
    connect(socket, options);
    const conn = [...library.connections].at(-1);
    if (conn) speakPostfix(conn, { hostname, size: config.SMTP_MAX_MESSAGE_BYTES }, async (address) => {
      const at = address.lastIndexOf('@');
      if (at <= 0 || address.slice(at + 1) !== domain) return 'relay';
      return (await findRecipient(address.slice(0, at), address)) ? 'known' : 'unknown';
    });
  };

  server.on('error', (err: NodeJS.ErrnoException) => {
    log.debug({ code: err.code, err: err.message }, 'smtp connection error');
  });

  // A total deadline per connection: the idle timeout alone lets a client that sends one byte
  // a minute (slow loris) hold a slot for ever.
  server.server.on('connection', (socket: Socket) => {
    const deadline = setTimeout(() => {
      log.info({ event: 'smtp-session-deadline', clientIp: socket.remoteAddress }, 'smtp session exceeded its time limit; closed');
      socket.destroy();
    }, config.SMTP_SESSION_TIMEOUT);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
  });

  return server;
}

/** The library's connection, as far as the listener rewrites its replies and adds Postfix's VRFY and ETRN. */
interface LibraryConnection {
  send(code: number, data: string | string[], context?: string | false): void;
  close(): void;
  remoteAddress: string;
  handler_VRFY?: (command: Buffer | string, callback: () => void) => void;
  handler_ETRN?: (command: Buffer | string, callback: () => void) => void;
}

/**
 * Make one connection speak like Postfix: every reply through `postfixReply`, VRFY answered from
 * the recipient table (252 for a mailbox, 550 unknown, 454 for other domains as a relay), ETRN
 * refused as a Postfix without fast-flush domains refuses it.
 */
function speakPostfix(conn: LibraryConnection, opts: { hostname: string; size: number }, verify: (address: string) => Promise<'known' | 'unknown' | 'relay'>): void {
  const send = conn.send.bind(conn);
  conn.send = (code, data, context) => {
    const reply = postfixReply({ code, data, context }, { ...opts, clientIp: conn.remoteAddress });
    send(reply.code, reply.data, false);
    // The library closes after its 421s; Postfix's goodbye to an HTTP request is a 221 that closes too.
    if (code === 421 && reply.code !== 421) conn.close();
  };
  conn.handler_VRFY = (command, callback) => {
    const arg = command.toString().trim().split(/\s+/).slice(1).join(' ');
    const address = arg.replace(/^<|>$/g, '').toLowerCase();
    if (!address) {
      send(501, '5.5.4 Syntax: VRFY address', false);
      return callback();
    }
    verify(address).then(
      (found) => {
        if (found === 'known') send(252, `2.0.0 ${clip(address, 200)}`, false);
        else if (found === 'unknown') send(550, `5.1.1 <${clip(address, 200)}>: Recipient address rejected: User unknown in virtual mailbox table`, false);
        else send(454, `4.7.1 <${clip(address, 200)}>: Relay access denied`, false);
        callback();
      },
      () => {
        send(451, '4.3.0 Error: queue file write error', false);
        callback();
      },
    );
  };
  conn.handler_ETRN = (command, callback) => {
    const arg = command.toString().trim().split(/\s+/)[1];
    if (!arg) send(500, '5.5.4 Syntax: ETRN domain', false);
    else send(459, `<${clip(arg, 200)}>: service unavailable`, false);
    callback();
  };
}

/** Stream one message through the parser, then record a hit per token recipient. */
async function receive(stream: SMTPServerDataStream, session: SMTPServerSession, recipients: Map<string, Matched>, deps: SmtpDeps): Promise<{ oversize: boolean }> {
  const { config, log, recorder } = deps;
  const parsed = await parseMail(stream, Math.min(config.SMTP_MAX_MESSAGE_BYTES, SMTP_LIMITS.maxParsed));
  const oversize = stream.sizeExceeded === true;
  if (oversize) log.warn({ event: 'smtp-oversize', clientIp: session.remoteAddress, limit: config.SMTP_MAX_MESSAGE_BYTES }, 'smtp message over the size limit refused');

  const envelopeFrom = session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address || null;
  const allRecipients = session.envelope.rcptTo.map((r) => clip(r.address.toLowerCase(), 254));
  const clientHostname = session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : null;
  const helo = session.hostNameAppearsAs ? clip(session.hostNameAppearsAs, 255) : null;

  const records = [...recipients].map(([rcpt, { token, kind }]) => {
    if (!isLive(token)) {
      log.info({ event: 'smtp-inactive-token', tokenId: token.id }, 'mail for an inactive token accepted, not recorded');
      return undefined;
    }
    const mail: SmtpMailInfo = {
      recipient: rcpt,
      mailFrom: envelopeFrom,
      recipients: allRecipients,
      heloName: helo,
      clientIp: session.remoteAddress,
      clientHostname,
      subject: parsed.subject,
      headers: parsed.headers,
      text: parsed.text,
      links: parsed.links,
      attachments: parsed.attachments,
      size: parsed.size,
    };
    const facts: HitFacts = kind.smtp?.describe?.(mail, token as Token) ?? { details: { subject: parsed.subject } };
    const withLimits: HitFacts = oversize || parsed.truncated ? { ...facts, details: { ...facts.details, truncated: true, oversize } } : facts;
    return recorder.record({
      token: token as Token,
      channel: 'smtp',
      sourceIp: session.remoteAddress,
      sourcePort: session.remotePort,
      userAgent: parsed.headers['x-mailer'] ?? parsed.headers['user-agent'] ?? null,
      mailFrom: envelopeFrom,
      mailTo: rcpt,
      mailSubject: parsed.subject,
      headers: parsed.headers,
      facts: withLimits,
    });
  });
  await Promise.all(records);
  return { oversize };
}

/** An enabled decoy fires; one past its expiry still does (it is due for rotation, not dead: see tokens/freshness.ts). */
function isLive(token: TokenRow): boolean {
  return token.enabled;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A Postfix-looking queue id. */
function queueId(): string {
  return Array.from({ length: 10 }, () => '0123456789ABCDEF'.charAt(randomInt(16))).join('');
}

/** Start the SMTP listener as a RunningListener named `smtp`. */
export function listenSmtp(deps: SmtpDeps): Promise<RunningListener> {
  const server = createSmtpServer(deps);
  const { SMTP_HOST: host, SMTP_PORT: port } = deps.config;
  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error) => reject(new Error(`smtp listener could not bind ${host}:${port}: ${err.message}`, { cause: err }));
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      const addr = server.server.address();
      const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port };
      resolvePromise({ name: 'smtp', address: bound, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}
