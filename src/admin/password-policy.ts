import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';
import { z } from 'zod';
import { MIN_PASSWORD_LENGTH } from './passwords.ts';

/**
 * Password strength for admin accounts (NIST SP 800-63B: length, and no password from a list
 * of common or breached ones; no composition rules). zxcvbn-ts estimates how many guesses a
 * password takes, matching it against its dictionaries, among them `passwords-common` (the
 * most common passwords of public breach corpora) and English words and names; the account's
 * own email is matched too. Score 3 ("safely unguessable: moderate protection from offline
 * slow-hash scenario") is the least accepted. Everything runs locally: nothing is sent anywhere.
 */

const estimator = new ZxcvbnFactory({
  dictionary: { ...common.dictionary, ...en.dictionary },
  graphs: common.adjacencyGraphs,
  translations: en.translations,
});

/** Lowest zxcvbn score accepted (0-4). */
export const MIN_SCORE = 3;

/** Why `password` is refused, as a sentence for the form; null when it is fine. */
export function passwordProblem(password: string, context: readonly string[] = []): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > 1024) return 'must be at most 1024 characters';
  const words = context.flatMap((c) => [c, ...c.split(/[@._+-]+/)]).filter((w) => w.length >= 3);
  const result = estimator.check(password.slice(0, 256), words);
  const common = result.sequence.length === 1 && (result.sequence[0] as { dictionaryName?: string }).dictionaryName === 'passwords-common';
  if (result.score >= MIN_SCORE && !common) return null;
  const why = result.feedback.warning ?? (common ? 'This is a commonly used password.' : 'It would be guessed quickly.');
  const tip = result.feedback.suggestions[0] ?? 'Use a few unrelated words.';
  return `is too easy to guess. ${why} ${tip}`.trim();
}

/** A new password field checked for strength (`context`: the account's email, added by the caller's refine). */
export const newPassword = z.string().max(1024, 'must be at most 1024 characters');

/** zod refinement for objects with `password` and `email`: a strong password, not derived from the email. */
export function strongPassword<T extends { password: string; email?: string }>(value: T, ctx: z.RefinementCtx): void {
  const problem = passwordProblem(value.password, value.email ? [value.email] : []);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['password'] });
}
