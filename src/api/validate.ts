import type { z } from 'zod';
import { AppError } from '../errors.ts';

/** Parse input at the edge: a failure becomes a 400 with `field: message` entries. */
export function parse<S extends z.ZodType>(schema: S, data: unknown, prefix = ''): z.infer<S> {
  const result = schema.safeParse(data);
  if (!result.success) throw AppError.fromZod(result.error, prefix);
  return result.data;
}
