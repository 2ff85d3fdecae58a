import request from 'supertest';
import type { Express } from 'express';
import type { Db } from '../../src/db/client.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { insertUser } from '../../src/db/queries/users.ts';

/** Admin credentials the UI tests sign in with. */
export const ADMIN = { email: 'admin@corp.example', password: 'correct horse battery staple' };

export async function makeAdmin(db: Db, email = ADMIN.email, password = ADMIN.password) {
  return insertUser(db, email, await hashPassword(password));
}

/** The value of a hidden `_csrf` input in an HTML page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF token in page');
  return m[1];
}

/** A supertest agent signed in as `email` (cookies kept), and the session's CSRF token. */
export async function signIn(app: Express, email = ADMIN.email, password = ADMIN.password) {
  const agent = request.agent(app);
  const page = await agent.get('/login');
  const res = await agent.post('/login').type('form').send({ email, password, _csrf: csrfOf(page.text) });
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
  const home = await agent.get('/');
  return { agent, csrf: csrfOf(home.text) };
}
