/** DATABASE_URL helpers that load no driver (the CLI uses them before it knows it needs one). */

/** True when a DATABASE_URL names PostgreSQL rather than a SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL without its password (`smtp://user:***@host:587`), for messages, logs and pages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
