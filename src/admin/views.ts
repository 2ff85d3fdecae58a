import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Response } from 'express';
import Handlebars from 'handlebars';

/**
 * The admin UI's view engine: handlebars used directly (no express adapter), templates from
 * `templates/admin/*.hbs`, partials from `templates/admin/partials/`, one layout. `{{x}}`
 * escapes; helpers that return markup escape every value they embed, so attacker-controlled
 * hit fields can only ever render as text.
 */

/** Where the admin templates live. */
export const ADMIN_TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates/admin');
/** Stylesheet and script served at /static (CSP allows only same-origin files). */
export const ADMIN_STATIC = join(ADMIN_TEMPLATES, 'static');

type Template = Handlebars.TemplateDelegate<Record<string, unknown>>;

const esc = (v: unknown): string => Handlebars.Utils.escapeExpression(v === null || v === undefined ? '' : String(v));

function toDate(v: unknown): Date | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v === 'number' || typeof v === 'string') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

/** `2026-11-28 01:48:50 UTC`: what users without JavaScript see. */
export function utcText(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function createEngine(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('time', (v: unknown) => {
    const d = toDate(v);
    if (!d) return '—';
    const iso = d.toISOString();
    return new hb.SafeString(`<time datetime="${esc(iso)}" title="${esc(utcText(d))}">${esc(utcText(d))}</time>`);
  });
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).find(Boolean) ?? false);
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('join', (list: unknown, sep: unknown) => (Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ', ') : ''));
  hb.registerHelper('lines', (list: unknown) => (Array.isArray(list) ? list.join('\n') : ''));
  hb.registerHelper('json', (v: unknown) => (v === null || v === undefined ? '' : JSON.stringify(v, null, 2)));
  hb.registerHelper('selected', (a: unknown, b: unknown) => (String(a) === String(b) ? 'selected' : ''));
  hb.registerHelper('checked', (a: unknown) => (a ? 'checked' : ''));
  // `{{plural n "hit"}}` -> "1 hit", "3 hits"; `{{plural n "entry" "entries"}}` for irregular ones.
  hb.registerHelper('plural', (n: unknown, one: unknown, ...rest: unknown[]) => {
    const many = rest.length > 1 && typeof rest[0] === 'string' ? rest[0] : `${String(one)}s`;
    return `${Number(n)} ${Number(n) === 1 ? String(one) : many}`;
  });
  hb.registerHelper('lowerFirst', (v: unknown) => (typeof v === 'string' ? v.charAt(0).toLowerCase() + v.slice(1) : ''));
  return hb;
}

/** A compiled set of admin templates. */
export interface Views {
  /** Render `name` inside the layout with `model` plus the request's locals (user, csrf …). */
  render(res: Response, name: string, model?: Record<string, unknown>, status?: number): void;
}

/** Compile every template once at start-up, so a broken template fails the boot, not a request. */
export function createViews(dir = ADMIN_TEMPLATES): Views {
  const hb = createEngine();
  const partials = join(dir, 'partials');
  for (const f of readdirSync(partials).filter((n) => n.endsWith('.hbs'))) {
    hb.registerPartial(f.slice(0, -4), readFileSync(join(partials, f), 'utf8'));
  }
  const pages = new Map<string, Template>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.hbs'))) {
    pages.set(f.slice(0, -4), hb.compile(readFileSync(join(dir, f), 'utf8'), { strict: false }));
  }
  const layout = pages.get('layout');
  if (!layout) throw new Error(`admin templates: ${dir}/layout.hbs is missing`);

  return {
    render(res, name, model = {}, status = 200) {
      const page = pages.get(name);
      if (!page) throw new Error(`admin template ${name} not found`);
      const locals = res.locals as Record<string, unknown>;
      const data = { ...locals, ...model };
      const body = page(data);
      res
        .status(status)
        .type('html')
        .set('Cache-Control', 'no-store')
        .send(layout({ ...data, body: new hb.SafeString(body) }));
    },
  };
}
