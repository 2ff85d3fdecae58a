import type { z } from 'zod';
import { AppError } from '../errors.ts';

/**
 * Validation messages written for people. Admin forms parse with `humanIssue` as zod's error
 * map, so a schema's own message ("must be an email address") stands and zod's defaults
 * ("Invalid input: expected string, received undefined") become sentences ("is required").
 * Field names become their labels in the error summary.
 */

/** `1 hit`, `2 hits`: count and noun, plural right (`plural` for irregular ones). */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

type Issue = z.core.$ZodRawIssue;

/** zod error map for admin forms: a sentence for each issue code (schema messages win). */
export function humanIssue(iss: Issue): string {
  const i = iss as Issue & { input?: unknown; expected?: string; minimum?: number | bigint; maximum?: number | bigint; origin?: string; format?: string; values?: unknown[] };
  switch (i.code) {
    case 'invalid_type':
      if (i.input === undefined || i.input === null || i.input === '') return 'is required';
      return i.expected === 'number' || i.expected === 'int' ? 'must be a number' : i.expected === 'array' ? 'must be a list' : 'is not valid here';
    case 'too_small': {
      const n = Number(i.minimum ?? 0);
      if (i.origin === 'string') return n <= 1 ? 'is required' : `must be at least ${counted(n, 'character')}`;
      if (i.origin === 'array' || i.origin === 'set') return n <= 1 ? 'choose at least one' : `choose at least ${n}`;
      return `must be at least ${n}`;
    }
    case 'too_big': {
      const n = Number(i.maximum ?? 0);
      if (i.origin === 'string') return `must be at most ${counted(n, 'character')}`;
      if (i.origin === 'array' || i.origin === 'set') return `can have at most ${counted(n, 'entry', 'entries')}`;
      return `must be at most ${n}`;
    }
    case 'invalid_format':
      return i.format === 'email' ? 'must be an email address' : i.format === 'url' ? 'must be a web address such as https://example.com' : 'is not in the expected form';
    case 'invalid_value':
      return `must be one of: ${(i.values ?? []).map(String).join(', ')}`;
    case 'unrecognized_keys':
      return 'has fields this form does not know';
    default:
      return 'is not valid';
  }
}

/** Parse form input with human messages; a failure is a 400 AppError whose fields are sentences. */
export function formParse<S extends z.ZodType>(schema: S, data: unknown, prefix = ''): { ok: true; data: z.infer<S> } | { ok: false; fields: Record<string, string> } {
  const result = schema.safeParse(data, { error: humanIssue });
  if (result.success) return { ok: true, data: result.data };
  return { ok: false, fields: { ...(AppError.fromZod(result.error, prefix).fields ?? {}) } };
}

/** One entry of a form's error summary: a link to the field and the sentence. */
export interface SummaryItem {
  href: string;
  text: string;
}

/**
 * The error summary above a form (GOV.UK pattern): every problem as `Label message`, linking to
 * its field. `labels` maps a field name to its label and input id.
 */
export function errorSummary(fields: Readonly<Record<string, string>>, labels: Readonly<Record<string, { label: string; id: string }>>): SummaryItem[] {
  return Object.entries(fields).map(([name, message]) => {
    const f = labels[name];
    return f ? { href: `#${f.id}`, text: `${f.label}: ${message}` } : { href: '#main', text: message };
  });
}
