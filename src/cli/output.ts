import { ERROR_CODES, toPaddockError } from '../errors.js';

/** Prints an error as `paddock: <code>: <message>` and returns the exit code for it. */
export function reportError(err: unknown): number {
  const e = toPaddockError(err);
  process.stderr.write(`paddock: ${e.code}: ${e.message}\n`);
  return ERROR_CODES[e.code].exit;
}

export function printTable(rows: string[][]): void {
  if (rows.length === 0) return;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows) {
    process.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
  }
}

export const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};
