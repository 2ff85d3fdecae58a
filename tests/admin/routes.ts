import type { Express } from 'express';
import { POLICY } from '../../src/access.ts';
import { GUARD } from '../../src/admin/guard.ts';

/** Every route of an express app: method, the guard's policy key (if any), walking nested routers. */
export function routesOf(app: Express): { method: string; guardKey: string | null }[] {
  const out: { method: string; guardKey: string | null }[] = [];
  type Layer = { route?: { stack: { method?: string; handle: unknown }[] }; handle?: { stack?: Layer[] } };
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const guard = layer.route.stack.map((l) => (l.handle as Record<symbol, { key: string } | undefined>)[GUARD]).find(Boolean);
        const methods = [...new Set(layer.route.stack.map((l) => l.method).filter(Boolean))];
        for (const m of methods) out.push({ method: String(m).toUpperCase(), guardKey: guard?.key ?? null });
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

/** Ids to put in a route's path, by what the path names. */
export interface RouteIds {
  token: string;
  incident: number;
  asset: number;
  /** An expected-activity rule. */
  rule: number;
  user: string;
  key: string;
}

/** `METHOD path` of a policy key with its parameters filled in. */
export function concrete(key: string, ids: RouteIds): { method: string; path: string } {
  const [method = 'GET', pattern = '/'] = key.split(' ');
  const path = pattern
    .replace(/\/tokens\/:id/, `/tokens/${ids.token}`)
    .replace(/\/incidents\/:id/, `/incidents/${ids.incident}`)
    .replace(/\/assets\/:id/, `/assets/${ids.asset}`)
    .replace(/\/expected-activity\/:id/, `/expected-activity/${ids.rule}`)
    .replace(/\/intel\/feeds\/:id/, '/intel/feeds/1')
    .replace(/\/admins\/:id/, `/admins/${ids.user}`)
    .replace(/\/api-keys\/:id/, `/api-keys/${ids.key}`)
    .replace(/:ref/, 'x'.repeat(32));
  return { method, path };
}

/** The policy keys of the admin UI (not the JSON API), sign-out last (it ends the session). */
export const UI_KEYS = Object.keys(POLICY)
  .filter((k) => !k.includes(' /api/') && k !== 'GET /metrics' && k !== 'GET /healthz')
  .sort((a, b) => Number(a === 'POST /logout') - Number(b === 'POST /logout'));
/** The policy keys of the JSON API. */
export const API_KEYS = Object.keys(POLICY).filter((k) => k.includes(' /api/'));
