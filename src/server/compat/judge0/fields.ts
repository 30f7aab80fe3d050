import { badRequest } from './errors.js';

/** A submission's attributes in Judge0 CE's order (its columns, then `status` and `language`): what `fields=*` returns. */
export const ALL_FIELDS = [
  'source_code',
  'language_id',
  'stdin',
  'expected_output',
  'stdout',
  'status_id',
  'created_at',
  'finished_at',
  'time',
  'memory',
  'stderr',
  'token',
  'number_of_runs',
  'cpu_time_limit',
  'cpu_extra_time',
  'wall_time_limit',
  'memory_limit',
  'stack_limit',
  'max_processes_and_or_threads',
  'enable_per_process_and_thread_time_limit',
  'enable_per_process_and_thread_memory_limit',
  'max_file_size',
  'compile_output',
  'exit_code',
  'exit_signal',
  'message',
  'wall_time',
  'compiler_options',
  'command_line_arguments',
  'redirect_stderr_to_stdout',
  'callback_url',
  'additional_files',
  'enable_network',
  'status',
  'language',
] as const;
export type Field = (typeof ALL_FIELDS)[number];

const DEFAULT = new Set<Field>(['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status']);
/** What Judge0 answers without `fields` (and what its callbacks carry), in its order: stdout, time, memory, stderr, token, … */
export const DEFAULT_FIELDS: readonly Field[] = ALL_FIELDS.filter((f) => DEFAULT.has(f));

/** Text attributes: base64-encoded in both directions with `base64_encoded=true`. */
export const TEXT_FIELDS: ReadonlySet<Field> = new Set(['source_code', 'stdin', 'expected_output', 'stdout', 'stderr', 'compile_output', 'message']);

const known: ReadonlySet<string> = new Set(ALL_FIELDS);

/**
 * `?fields=a,b`: the attributes asked for, in Judge0's order. `*` is all of them; none is the
 * default set; an unknown name is Judge0's `400 {"error": "invalid fields: [a, b]"}`.
 */
export function parseFields(param: unknown): readonly Field[] {
  const text = typeof param === 'string' ? param : Array.isArray(param) ? String(param.at(-1) ?? '') : '';
  const asked = text.split(',').filter((f) => f !== '');
  if (asked.includes('*')) return ALL_FIELDS;
  const invalid = asked.filter((f) => !known.has(f));
  if (invalid.length > 0) throw badRequest(`invalid fields: [${invalid.map((f) => f.slice(0, 64)).slice(0, 20).join(', ')}]`);
  if (asked.length === 0) return DEFAULT_FIELDS;
  const wanted = new Set(asked);
  return ALL_FIELDS.filter((f) => wanted.has(f));
}

/** Rails' reading of a query flag: only the string `true` is true. */
export const flag = (param: unknown): boolean => (Array.isArray(param) ? param.at(-1) : param) === 'true';
