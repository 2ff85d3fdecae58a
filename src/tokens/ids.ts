import { customAlphabet } from 'nanoid';

/** Lowercase alphanumerics: a token id is a valid DNS label and survives case-folding. */
export const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const ID_LENGTH = 24;

/** 24 characters of [0-9a-z] from a CSPRNG: about 124 bits, unguessable. */
export const newTokenId = customAlphabet(ID_ALPHABET, ID_LENGTH);

/** Matches a token-id-shaped run that is not part of a longer alphanumeric word. */
export const ID_PATTERN = /(?<![0-9a-z])[0-9a-z]{24}(?![0-9a-z])/g;

export function isTokenId(value: string): boolean {
  return value.length === ID_LENGTH && /^[0-9a-z]+$/.test(value);
}

/** Every id-shaped candidate in a string, deduplicated, in order of appearance (at most `max`). */
export function idCandidates(text: string, max = 8): string[] {
  const found = new Set<string>();
  for (const m of text.toLowerCase().matchAll(ID_PATTERN)) {
    found.add(m[0]);
    if (found.size >= max) break;
  }
  return [...found];
}
