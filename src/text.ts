/**
 * Linear-time text helpers for attacker-controlled strings. A pattern such as `/\/+$/` looks
 * harmless but V8 retries it from every position of a run, so a run of n characters costs
 * n^2 steps (4,000 slashes: ~15 ms of event loop per request). These loops cost n.
 */

/** `s` without the trailing characters that appear in `chars` (what `/[chars]+$/` removes, in linear time). */
export function trimEndChars(s: string, chars: string): string {
  let end = s.length;
  while (end > 0 && chars.includes(s.charAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

/**
 * C0 controls (tab and newline included), DEL, C1 controls (U+0080-U+009F, among them the 8-bit
 * CSI U+009B a terminal may honour) and the Unicode line and paragraph separators: what may not
 * reach a terminal from attacker text.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text from a hit made safe to print on a terminal: every control character becomes a visible
 * escape (`\x1b`, `\u009b`), so an intruder's user agent cannot move the cursor, clear the
 * screen, set the window title or split one record into two lines. With `keepNewlines`, line
 * feeds stay (multi-line output such as an export shown on a terminal).
 */
export function printable(s: string, keepNewlines = false): string {
  return s.replace(UNSAFE, (c) => {
    if (keepNewlines && c === '\n') return c;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What JSON.stringify leaves raw but a line splitter or a terminal may act on: DEL, C1 controls (U+0085 NEL among them), U+2028, U+2029. */
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029]/g;

/**
 * JSON text with DEL, the C1 controls and U+2028/U+2029 written as `\u` escapes. JSON.stringify
 * escapes C0 controls only; U+0085, U+2028 and U+2029 are legal raw in JSON strings, but tools
 * that split on Unicode line boundaries would break one JSON Lines record into two, and a C1
 * CSI (U+009B) reaches the terminal of whoever runs `cat` on the file. Same JSON value.
 */
export function jsonLineSafe(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Strip control characters and line breaks (no header/CRLF injection, no fake lines) and bound length: attacker-supplied values in alerts. */
export function oneLine(v: string | null | undefined, max = 300): string {
  if (v === null || v === undefined) return '';
  const s = v.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Distinct non-empty values, in first-seen order. */
export function unique(values: (string | null | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => !!v))];
}
