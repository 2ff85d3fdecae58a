/** Text helpers for alert rendering: attacker-supplied values become bounded single lines. */

/** Strip control characters and line breaks (no header/CRLF injection, no fake lines) and bound length. */
export function oneLine(v: string | null | undefined, max = 300): string {
  if (v === null || v === undefined) return '';
  const s = v.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Distinct non-empty values, in first-seen order. */
export function unique(values: (string | null | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => !!v))];
}
