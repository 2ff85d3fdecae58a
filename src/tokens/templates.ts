import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

/**
 * Handlebars templates for artifacts (`templates/tokens/<kind>/`) and the honey portal
 * (`templates/site/portal/`). Compiled once per file and cached. HTML templates escape every
 * `{{value}}` (attacker-echoed text included); text artifacts are compiled without HTML
 * escaping, and their values are validated by the kind's schema instead.
 */

const TEMPLATES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates');

const html = Handlebars.create();
const text = Handlebars.create();
const cache = new Map<string, Handlebars.TemplateDelegate>();

/** Render `templates/<path>`; `mode: 'html'` escapes values, `'text'` leaves them as they are. */
export function renderTemplate(path: string, data: Record<string, unknown>, mode: 'html' | 'text'): string {
  const key = `${mode}:${path}`;
  let tpl = cache.get(key);
  if (!tpl) {
    const source = readFileSync(resolve(TEMPLATES_DIR, path), 'utf8');
    tpl = (mode === 'html' ? html : text).compile(source, { noEscape: mode === 'text', strict: false });
    cache.set(key, tpl);
  }
  return tpl(data);
}
