import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (one line per event). Secrets never reach a log line: the redact
 * list covers the header and field names that can carry them.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  // Buffered, asynchronous writes to stdout: a synchronous write per hit costs more than the
  // hit's database insert. pino flushes the buffer when the process exits.
  const dest = destination ?? (level === 'silent' ? undefined : pino.destination({ dest: 1, sync: false, minLength: 4096 }));
  return pino(
    {
      level,
      base: { app: 'honeytrail' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        // Explicit paths only: wildcard redaction costs more per line than the rest of the log call.
        paths: ['authorization', 'headers.authorization', 'headers.cookie', 'password', 'apiKey', 'secret', 'smtpUrl'],
        censor: '[redacted]',
      },
    },
    dest,
  );
}
