/**
 * CSV that is safe to open in a spreadsheet: every cell quoted, and cells that a spreadsheet
 * would treat as a formula (= + - @, tab, CR) prefixed with a single quote (OWASP CSV
 * injection guidance). Hit fields are attacker-controlled, so this matters.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '""';
  let s = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}
