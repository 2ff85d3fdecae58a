/**
 * Postfix's words for what smtp-server says: its EHLO keywords in Postfix's order, `Ok` where the
 * library says `Accepted`, Postfix's enhanced status codes and texts for errors, timeouts and
 * connection limits. The SMTP listener passes every reply of a connection through `postfixReply`
 * (tests/channels/smtp-differential.test.ts compares a session with a real Postfix).
 */

/** The EHLO keywords of Debian's stock Postfix smtpd, in its order (no STARTTLS and CHUNKING: docs/stealth.md). */
export function postfixEhloKeywords(size: number): string[] {
  return ['PIPELINING', `SIZE ${size}`, 'VRFY', 'ETRN', 'ENHANCEDSTATUSCODES', '8BITMIME', 'DSN', 'SMTPUTF8'];
}

/** What the connection knows when a reply is rewritten. */
export interface ReplyContext {
  hostname: string;
  clientIp: string;
  size: number;
}

/** A reply as smtp-server's `send(code, data, context)` receives it. */
export interface LibraryReply {
  code: number;
  data: string | string[];
  /** smtp-server's context: a name such as `MAIL_FROM_OK`, a command name, or false for no enhanced code. */
  context?: string | false;
}

/** The reply Postfix gives instead: `data` already carries the enhanced status code, if any. */
export interface PostfixReply {
  code: number;
  data: string | string[];
}

/** Postfix's enhanced code for a reply code when no rule below names one. */
const DEFAULT_ENHANCED: Record<number, string> = {
  221: '2.0.0', 250: '2.0.0', 252: '2.0.0', 421: '4.4.2', 450: '4.2.0', 451: '4.3.0', 452: '4.5.3', 454: '4.7.1',
  500: '5.5.2', 501: '5.5.4', 502: '5.5.1', 503: '5.5.1', 504: '5.5.4', 550: '5.1.1', 552: '5.3.4', 554: '5.5.1',
};

/** Rewrite one reply of the library into Postfix's. */
export function postfixReply(reply: LibraryReply, ctx: ReplyContext): PostfixReply {
  const { code, data, context } = reply;
  if (Array.isArray(data)) return { code, data: [data[0] ?? ctx.hostname, ...postfixEhloKeywords(ctx.size)] };
  if (context === false) {
    // Greeting, HELO/EHLO replies and their syntax errors carry no enhanced code in Postfix either.
    const syntax = /^Error: syntax: (EHLO|HELO) hostname$/i.exec(data);
    return syntax ? { code, data: `Syntax: ${syntax[1]?.toUpperCase()} hostname` } : { code, data };
  }
  const with_ = (enhanced: string, text: string, newCode = code): PostfixReply => ({ code: newCode, data: `${enhanced} ${text}` });
  if (data === 'Accepted') return with_(context === 'MAIL_FROM_OK' ? '2.1.0' : '2.1.5', 'Ok');
  if (data === 'OK' || data === 'Flushed') return with_('2.0.0', 'Ok');
  if (context === 'DATA_OK') return with_('2.0.0', data);
  if (data === 'Error: Bad sender address syntax') return with_('5.1.7', 'Bad sender address syntax');
  if (data === 'Error: Bad recipient address syntax') return with_('5.1.3', 'Bad recipient address syntax');
  if (data.startsWith('Error: message exceeds fixed maximum message size') || data === 'Error: message file too big') return with_('5.3.4', 'Message size exceeds fixed limit', 552);
  if (data === 'Timeout - closing connection') return with_('4.4.2', `${ctx.hostname} Error: timeout exceeded`);
  if (data.endsWith('Too many connected clients, try again in a moment')) return with_('4.7.0', `${ctx.hostname} Error: too many connections from ${ctx.clientIp}`);
  if (data === 'Error: too many unrecognized commands') return with_('4.7.0', `${ctx.hostname} Error: too many errors`);
  if (data === 'HTTP requests not allowed') return with_('2.7.0', 'Error: I can break rules, too. Goodbye.', 221);
  if (data === 'Server shutting down') return with_('4.3.2', `${ctx.hostname} Error: Service shutting down`);
  const enhanced = DEFAULT_ENHANCED[code];
  return enhanced ? with_(enhanced, data) : { code, data };
}
