import type { ZodError } from 'zod';

/** Error codes the admin API and UI map to HTTP statuses in one place (`httpStatusOf`). */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
};

/** An expected failure with a code, a user-facing message and optional per-field messages. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: Readonly<Record<string, string>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }

  get status(): number {
    return STATUS[this.code];
  }

  /** Turn a zod failure into a 400 whose `fields` map dotted paths to messages. */
  static fromZod(error: ZodError, prefix = ''): AppError {
    const fields: Record<string, string> = {};
    for (const issue of error.issues) {
      const key = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)';
      fields[key] ??= issue.message;
    }
    const summary = Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('; ');
    return new AppError('invalid_request', `Invalid request: ${summary}`, fields);
  }
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);
