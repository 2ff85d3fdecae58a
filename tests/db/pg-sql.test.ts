import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, q, raw, render, run, together, transaction } from '../../src/db/pg-sql.ts';
import { closePostgres, openPostgres } from '../../src/db/pg.ts';
import { createTestPg, type TestPg } from '../pg.ts';

/** The recording path's statements (src/db/pg-sql.ts), rendered and run on a real server. */
let server: TestPg;
let pool: pg.Pool;
beforeAll(async () => {
  server = await createTestPg();
  pool = new pg.Pool({ connectionString: server.url, max: 2 });
  await pool.query('create table t (id int primary key, label text)');
});
afterAll(async () => {
  await pool.end();
  await server.drop();
});

describe('PostgreSQL statements from templates', () => {
  it('numbers the values of nested and joined fragments in order; raw text is spliced in, never bound', () => {
    const part = (i: number) => q`(${i}::int, ${`label ${i}`})`;
    const statement = q`insert into ${raw('t')} (id, label) values ${join([part(1), part(2)], ', ')} returning ${raw('id')}, ${'x'} as tag`;
    expect(render(statement)).toEqual({
      text: 'insert into t (id, label) values ($1::int, $2), ($3::int, $4) returning id, $5 as tag',
      values: [1, 'label 1', 2, 'label 2', 'x'],
    });
  });

  it('puts several writes in one statement, returning the rows of the last one when asked; one write stays as it is', async () => {
    const write = q`insert into t (id, label) values (${30}, ${'a'})`;
    expect(render(together([write]))).toEqual(render(write));
    const [row] = await run<{ id: number }>(pool, together([write, q`insert into t (id, label) values (${31}, ${'b'}) returning id`], true));
    expect(row).toEqual({ id: 31 });
    expect(await run(pool, q`select id from t where id between ${30} and ${31} order by id`)).toEqual([{ id: 30 }, { id: 31 }]);
    expect(await run(pool, together([q`update t set label = ${'c'} where id = ${30}`, q`delete from t where id = ${31}`]))).toEqual([{ '?column?': 1 }]);
    expect(await run(pool, q`select id, label from t where id between ${30} and ${31}`)).toEqual([{ id: 30, label: 'c' }]);
  });

  it('runs with arrays and text that would break a literal bound as parameters', async () => {
    const hostile = "o'brien); drop table t; --";
    await run(pool, q`insert into t (id, label) select * from unnest(${[10, 11]}::int[], ${[hostile, 'plain']}::text[])`);
    const rows = await run<{ id: number; label: string }>(pool, q`select id, label from t where id = any(${[10, 11]}::int[]) order by id`);
    expect(rows).toEqual([
      { id: 10, label: hostile },
      { id: 11, label: 'plain' },
    ]);
  });

  it('commits a transaction whose function resolves and rolls back one that throws, handing the connection back either way', async () => {
    await transaction(pool, (c) => run(c, q`insert into t (id, label) values (${20}, ${'kept'})`));
    await expect(
      transaction(pool, async (c) => {
        await run(c, q`insert into t (id, label) values (${21}, ${'lost'})`);
        await run(c, q`insert into t (id, label) values (${20}, ${'duplicate key'})`);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await run(pool, q`select id from t where id between ${20} and ${21} order by id`)).toEqual([{ id: 20 }]);
    expect(pool.totalCount - pool.idleCount).toBe(0);
  });

  it('a connection that dies inside a transaction is thrown away, not handed to the next caller', async () => {
    let dead = 0;
    await expect(
      transaction(pool, async (c) => {
        dead = (await run<{ pid: number }>(c, q`select pg_backend_pid() as pid`))[0]?.pid ?? 0;
        await run(c, q`select pg_terminate_backend(pg_backend_pid())`);
      }),
    ).rejects.toThrow(/terminat/);
    // The pool opens a new connection for the next statement; the dead one is not among them.
    const [next] = await run<{ pid: number }>(pool, q`select pg_backend_pid() as pid`);
    expect(next?.pid).toBeGreaterThan(0);
    expect(next?.pid).not.toBe(dead);
    expect(pool.totalCount - pool.idleCount).toBe(0);
  });
});

describe("the server's pool (openPostgres)", () => {
  it('survives a connection that dies inside a drizzle transaction: the transaction fails, the process goes on, the pool reconnects', async () => {
    const db = await openPostgres({ url: server.url, migrate: false, max: 2 });
    try {
      await expect(db.transaction(async (tx) => tx.execute(sql`select pg_terminate_backend(pg_backend_pid())`))).rejects.toThrow();
      const after = await db.execute<{ one: number }>(sql`select 1 as one`);
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await closePostgres(db);
    }
  });
});
