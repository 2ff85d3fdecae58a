import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, q, raw, render, run, transaction } from '../../src/db/pg-sql.ts';
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
});
