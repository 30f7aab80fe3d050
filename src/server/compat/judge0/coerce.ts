import type { NumberField } from './limits.js';

/** Errors per field, gathered so that one 422 names all of them (as Rails does). */
export class Errors {
  readonly fields: Record<string, string[]> = {};
  add(field: string, message: string): void {
    (this.fields[field] ??= []).push(message);
  }
  get any(): boolean {
    return Object.keys(this.fields).length > 0;
  }
}

/** A decimal as Rails renders a decimal column or a float count: "5.0", "0.002", "2.5". */
export function decimal(n: number): string {
  const s = String(Number(n.toFixed(3)));
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

const NUMBER_RE = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;
const blank = (raw: unknown) => raw === undefined || raw === null || raw === '';

/** A number as Rails' numericality reads it (numbers or numeric strings), with its messages; absent: the default. */
export function readNumber(raw: unknown, name: string, f: NumberField, errors: Errors): number {
  if (blank(raw)) return f.default;
  const parsed = typeof raw === 'number' ? raw : typeof raw === 'string' && NUMBER_RE.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(parsed)) {
    errors.add(name, 'is not a number');
    return f.default;
  }
  // An integer column keeps the integer part before validation.
  const n = f.float ? parsed : Math.trunc(parsed);
  const show = (x: number) => (f.float ? decimal(x) : String(x));
  if (f.exclusiveMin ? n <= f.min : n < f.min) {
    errors.add(name, f.exclusiveMin ? `must be greater than ${show(f.min)}` : `must be greater than or equal to ${show(f.min)}`);
  }
  if (n > f.max) errors.add(name, `must be less than or equal to ${show(f.max)}`);
  return n;
}

const TRUE = new Set<unknown>([true, 'true', 't', '1', 1, 'TRUE', 'True']);
const FALSE = new Set<unknown>([false, 'false', 'f', '0', 0, 'FALSE', 'False']);

/** A boolean as Rails casts one; absent: false (every Judge0 flag defaults to false). */
export function readBoolean(raw: unknown, name: string, errors: Errors): boolean {
  if (blank(raw) || FALSE.has(raw)) return false;
  if (TRUE.has(raw)) return true;
  errors.add(name, 'is not a boolean');
  return false;
}

/** A text field: strings as they are, other scalars as Rails casts them to text; absent: undefined. */
export function readText(raw: unknown, name: string, errors: Errors): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  errors.add(name, 'is invalid');
  return undefined;
}

/** An integer id such as language_id: a number or a numeric string. */
export function readId(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
  if (typeof raw === 'string' && /^\s*\d{1,9}\s*$/.test(raw)) return Number(raw);
  return undefined;
}
