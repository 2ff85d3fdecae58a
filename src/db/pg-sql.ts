import type pg from 'pg';

/**
 * Statements for node-postgres written as templates, for the recording path only: every hit
 * goes through a batch of them, and drizzle's query building (its `is()` type checks walk the
 * prototype chain of every fragment and parameter) was about a sixth of a PostgreSQL node's CPU
 * in the pg bench's one-caller profile, on top of node-postgres' own work. Here a template is
 * turned into text and values in one pass. The rest of the code keeps drizzle.
 *
 *   q`select id from hits where id = any(${ids}::bigint[])`   // ids is one parameter ($1)
 *   q`select ${raw('count(*)')} from ${raw(table)}`            // raw text, never user data
 */
export class Fragment {
  constructor(
    readonly strings: readonly string[],
    readonly parts: readonly unknown[],
  ) {}
}

/** Text put into the statement as it is: column lists and fixed SQL, never a value from outside. */
export class Raw {
  constructor(readonly text: string) {}
}

export const raw = (text: string): Raw => new Raw(text);

/** A statement: each interpolated value is a parameter; fragments and raw text are spliced in. */
export function q(strings: TemplateStringsArray, ...parts: unknown[]): Fragment {
  return new Fragment(strings, parts);
}

/** Fragments joined with `separator` (raw text). */
export function join(fragments: readonly Fragment[], separator: string): Fragment {
  const strings = ['', ...fragments.slice(1).map(() => separator), ''];
  return new Fragment(strings, fragments);
}

/**
 * Writes that go in one statement (one round trip, one commit when outside a transaction), each a
 * data-modifying `WITH` part. They must touch different rows and not read each other's writes
 * (every part sees the statement's snapshot). With `rowsOfLast`, the statement returns the rows
 * of the last part (its `returning`); otherwise none.
 */
export function together(parts: readonly Fragment[], rowsOfLast = false): Fragment {
  if (parts.length === 1) return parts[0] as Fragment;
  const named = join(parts.map((part, i) => q`${raw(`w${i}`)} as (${part})`), ', ');
  return rowsOfLast ? q`with ${named} select * from ${raw(`w${parts.length - 1}`)}` : q`with ${named} select 1`;
}

/** The text (with $1, $2 … placeholders) and values of a statement. */
export function render(statement: Fragment): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  let text = '';
  const walk = (f: Fragment) => {
    for (let i = 0; i < f.strings.length; i++) {
      text += f.strings[i];
      if (i >= f.parts.length) continue;
      const part = f.parts[i];
      if (part instanceof Fragment) walk(part);
      else if (part instanceof Raw) text += part.text;
      else {
        values.push(part);
        text += `$${values.length}`;
      }
    }
  };
  walk(statement);
  return { text, values };
}

/** Run a statement on a client (a transaction's) or the pool; resolves with its rows. */
export async function run<R extends Record<string, unknown>>(on: pg.ClientBase | pg.Pool, statement: Fragment): Promise<R[]> {
  const { text, values } = render(statement);
  return (await on.query<R>(text, values)).rows;
}

/**
 * Run `fn` in a transaction on one pooled connection (begin, commit; rollback on an error). A
 * connection whose rollback fails is closed rather than handed to the next caller.
 */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection that ends while checked out (the server restarted, the backend was killed) is
  // reported as an 'error' event besides failing the statement in flight; with no listener that
  // event would end the process.
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
