import type { TokenKind } from '../tokens/kind.ts';
import { paramsJsonSchema } from '../tokens/registry.ts';

/**
 * The create-token form, driven by each kind's params schema (as JSON Schema): enums become
 * selects, strings inputs (long ones textareas), booleans checkboxes, numbers number inputs,
 * arrays one-per-line lists. Posted values are turned back into the JSON the service expects,
 * so the same zod schema validates the API and the form.
 */

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  maxLength?: number;
  /** `base64` for a file's bytes (custom-image): the form offers a file picker filling the field. */
  contentEncoding?: string;
  contentMediaType?: string;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

/** Which input a field renders as (see `templates/admin/partials/field.hbs`). */
export type Control = 'select' | 'text' | 'textarea' | 'checkbox' | 'number' | 'list' | 'json';

/** One labelled input of a form, with its current value and any error. */
export interface FormField {
  name: string;
  id: string;
  label: string;
  hint?: string;
  control: Control;
  required: boolean;
  value: string;
  checked?: boolean;
  placeholder: string;
  options?: { value: string; selected: boolean }[];
  error?: string;
  /** Made by the kind unless "choose my own" is ticked (`ownName` is that checkbox). */
  generated?: boolean;
  own?: boolean;
  ownName?: string;
  /** File types (an `accept` list) a script-side file picker offers; the chosen file fills the field as base64. */
  upload?: string;
}

/** Fields shown first on the create form: what it is, where it is, on which host. */
export const LEAD_FIELDS = ['name', 'location', 'plantedHost'] as const;

/** Text fields every token has; lists are one entry per line (commas work too). */
export const COMMON_FIELDS = [
  { key: 'name', label: 'Name (memo)', hint: 'What it is and why it is there; only you see this.', control: 'text', required: true, placeholder: 'Finance share: Q3 salaries' },
  { key: 'location', label: 'Where it is planted', hint: 'Share, path or page, e.g. \\\\fs01\\finance\\Q3', control: 'text', required: false, placeholder: '\\\\fs01\\finance\\Q3' },
  { key: 'plantedHost', label: 'Planted on host', hint: 'Host name the decoy lives on, as in the network map (WS-ACCT-07, fs01.corp.example); used to spot lateral movement.', control: 'text', required: false, placeholder: 'FS01' },
  { key: 'tags', label: 'Tags', hint: 'Comma or line separated.', control: 'list', required: false, placeholder: 'finance, q3' },
  { key: 'alertEmails', label: 'Alert recipients', hint: 'Email addresses, one per line (in addition to the deployment\'s alert recipients).', control: 'list', required: false, placeholder: 'soc@corp.example' },
  { key: 'webhooks', label: 'Webhooks', hint: 'https URLs, one per line.', control: 'list', required: false, placeholder: 'https://hooks.example.com/…' },
  { key: 'ignoreCidrs', label: 'Ignore sources', hint: 'Addresses or CIDRs whose hits are stored but not alerted, one per line.', control: 'list', required: false, placeholder: '10.0.5.10/32' },
  { key: 'expiresAt', label: 'Expires', hint: 'Date (YYYY-MM-DD or ISO 8601 time) after which the decoy is due for rotation; it still fires after it.', control: 'text', required: false, placeholder: '2027-06-30' },
  { key: 'rotateEveryDays', label: 'Rotate every (days)', hint: 'Rotation policy: the decoy shows as due for rotation this many days after it (or its last rotation) was made.', control: 'number', required: false, placeholder: '180' },
  { key: 'expectSeenEveryDays', label: 'Expect a scheduled check every (days)', hint: 'A scan or backup covered by an expected-activity rule should touch this decoy at least this often; the dashboard shows it when none did.', control: 'number', required: false, placeholder: '7' },
] as const satisfies readonly { key: string; label: string; hint: string; control: Control; required: boolean; placeholder: string }[];

type Body = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.filter((x) => typeof x === 'string').join('\n') : '');

/** Split a list field: one entry per line or per comma, blanks dropped. */
export function splitList(v: unknown): string[] {
  return str(v)
    .split(/[\r\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function labelOf(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function mainType(s: JsonSchema): JsonSchema {
  if (s.anyOf) return s.anyOf.find((x) => x.type !== 'null') ?? s;
  return s;
}

function typeName(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  return t ?? (s.enum ? 'string' : 'object');
}

function schemaOf(kind: TokenKind): JsonSchema {
  return paramsJsonSchema(kind) as JsonSchema;
}

function exampleText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(String).join('\n');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Form fields for a kind's params, filled from a posted body (or the defaults). */
export function paramFields(kind: TokenKind, body: Body | null, errors: Record<string, string>): FormField[] {
  const schema = schemaOf(kind);
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([key, raw]) => {
    const s = mainType(raw);
    const type = typeName(s);
    const name = `params.${key}`;
    const posted = body ? body[name] : undefined;
    const dflt = raw.default ?? s.default;
    const field: FormField = {
      name,
      id: `f-params-${key}`,
      label: labelOf(key),
      hint: raw.description ?? s.description,
      control: 'text',
      required: required.has(key) && dflt === undefined,
      value: body ? str(posted) : exampleText(dflt),
      placeholder: exampleText(kind.example[key] ?? dflt),
      error: errors[name],
    };
    if (kind.generated?.includes(key)) {
      field.generated = true;
      field.ownName = `own.${name}`;
      field.own = body ? body[`own.${name}`] === 'on' : false;
      field.required = false;
      if (!field.own) field.value = body ? str(posted) : '';
    }
    if (s.enum) {
      field.control = 'select';
      const current = body ? str(posted) : exampleText(dflt);
      field.options = s.enum.map((v) => ({ value: String(v), selected: String(v) === current }));
    } else if (type === 'boolean') {
      field.control = 'checkbox';
      field.checked = body ? posted === 'on' || posted === 'true' : dflt === true;
    } else if (type === 'number' || type === 'integer') field.control = 'number';
    else if (type === 'array') field.control = 'list';
    else if (type === 'object') field.control = 'json';
    else if ((s.maxLength ?? 0) > 2048) field.control = 'textarea';
    if (s.contentEncoding === 'base64') {
      field.control = 'textarea';
      field.upload = s.contentMediaType ?? '';
    }
    return field;
  });
}

/** The kind's params from a posted form, typed by its schema; blanks are left to defaults. */
export function paramsFromBody(kind: TokenKind, body: Body): Record<string, unknown> {
  const schema = schemaOf(kind);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    const s = mainType(raw);
    const type = typeName(s);
    const v = body[`params.${key}`];
    // A generated value is taken from the form only when "choose my own" is ticked.
    if (kind.generated?.includes(key) && body[`own.params.${key}`] !== 'on') continue;
    if (type === 'boolean') {
      out[key] = v === 'on' || v === 'true';
      continue;
    }
    const text = str(v).trim();
    if (!text) continue;
    if (s.enum) out[key] = s.enum.find((e) => String(e) === text) ?? text;
    else if (type === 'number' || type === 'integer') out[key] = Number(text);
    else if (type === 'array') {
      const items = splitList(text);
      const itemType = s.items ? typeName(mainType(s.items)) : 'string';
      out[key] = itemType === 'number' || itemType === 'integer' ? items.map(Number) : items;
    } else if (type === 'object') {
      try {
        out[key] = JSON.parse(text) as unknown;
      } catch {
        out[key] = text;
      }
    } else out[key] = text;
  }
  return out;
}

/** Label and input id of each field, for the error summary's links. */
export function fieldLabels(fields: readonly FormField[]): Record<string, { label: string; id: string }> {
  return Object.fromEntries(fields.map((f) => [f.name, { label: f.label, id: f.id }]));
}

/** "Choose my own" ticked with nothing typed: said so, rather than quietly generating a value. */
export function ownValueProblems(kind: TokenKind, body: Body): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of kind.generated ?? []) {
    if (body[`own.params.${key}`] === 'on' && !str(body[`params.${key}`]).trim()) out[`params.${key}`] = 'enter your own value, or untick "Choose my own" to have one generated';
  }
  return out;
}

/** Common token fields (name, location, lists) as form fields. */
export function commonFields(values: Body, errors: Record<string, string>): FormField[] {
  return COMMON_FIELDS.map((f) => {
    const v = values[f.key];
    return {
      name: f.key,
      id: `f-${f.key}`,
      label: f.label,
      hint: f.hint,
      control: f.control,
      required: f.required,
      value: Array.isArray(v) ? v.join('\n') : v instanceof Date ? v.toISOString() : typeof v === 'number' ? String(v) : str(v),
      placeholder: f.placeholder,
      error: errors[f.key],
    };
  });
}

/** The common fields of a posted form as service input (lists split, blanks omitted). */
export function commonFromBody(body: Body): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of COMMON_FIELDS) {
    if (f.control === 'list') out[f.key] = splitList(body[f.key]);
    else {
      const t = str(body[f.key]).trim();
      if (t || f.key === 'name') out[f.key] = t;
    }
  }
  return out;
}

/**
 * Map AppError field paths to form fields: `alertEmails.1` -> `alertEmails` ("entry 2: …"),
 * `params.target` stays; anything unknown lands on `(form)`.
 */
export function fieldErrors(fields: Readonly<Record<string, string>> | undefined, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, msg] of Object.entries(fields ?? {})) {
    const parts = path.split('.');
    const base = parts[0] === 'params' && parts[1] ? `params.${parts[1]}` : (parts[0] ?? '');
    const rest = parts.slice(base.split('.').length);
    const idx = rest[0] !== undefined && /^\d+$/.test(rest[0]) ? `entry ${Number(rest[0]) + 1}: ` : '';
    const key = known.includes(base) ? base : '(form)';
    out[key] = out[key] ? `${out[key]}; ${idx}${msg}` : `${idx}${key === '(form)' ? `${path}: ` : ''}${msg}`;
  }
  return out;
}
