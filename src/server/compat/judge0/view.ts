import type { LanguageHealth } from '../../../judge/health.js';
import { decodeBase64 } from '../../../judge/plan.js';
import { findLanguage } from '../../../judge/languages.js';
import { JudgeResult } from '../../../judge/result.js';
import type { JudgeJobSpec } from '../../../judge/spec.js';
import type { JobRow } from '../../../store/store.js';
import { encode64, utf8 } from './base64.js';
import { decimal } from './coerce.js';
import { Judge0Error } from './errors.js';
import { type Field, TEXT_FIELDS } from './fields.js';
import { judge0Name } from './languages.js';
import { type Judge0Limits, LIMIT_FIELDS } from './limits.js';
import { ECHO_LABEL, type Echo, LABEL_ARGUMENTS, LABEL_CALLBACK, LABEL_COMPILER_OPTIONS } from './request.js';
import { outcomeOf, statusById } from './statuses.js';

export const CONVERSION_ERROR = 'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter';

/** A Judge0 submission's job: a judge job the Judge0 API made (it carries the echo label). */
export function isJudge0Job(row: JobRow): boolean {
  return row.kind === 'judge' && row.labels !== null && ECHO_LABEL in (JSON.parse(row.labels) as Record<string, string>);
}

type Spec = Pick<JudgeJobSpec, 'language' | 'source' | 'files' | 'tests'>;

const bytesOf = (content: string, encoding: 'utf8' | 'base64') => (encoding === 'base64' ? decodeBase64(content, 'content') : Buffer.from(content, 'utf8'));

/**
 * The job as Judge0 shows a submission, only the asked `fields`, in Judge0's order. Text attributes
 * are base64 (Ruby's encode64) when asked; without it an input that is not UTF-8 is Judge0's
 * conversion error. Outputs are what the judge kept of them (judge.result_output_bytes), as text.
 */
export function submissionView(
  row: JobRow,
  opts: { fields: readonly Field[]; base64: boolean; health: LanguageHealth; limits: Judge0Limits },
): Record<string, unknown> {
  const spec = JSON.parse(row.spec) as Spec;
  const labels = (row.labels ? JSON.parse(row.labels) : {}) as Record<string, string>;
  const echo = readEcho(labels[ECHO_LABEL], opts.limits);
  const parsed = row.result ? JudgeResult.safeParse(JSON.parse(row.result)) : null;
  const error = row.error ? (JSON.parse(row.error) as { message?: string }).message : undefined;
  const test = spec.tests[0];
  const expected = test?.expected_output;
  const outcome = outcomeOf({
    state: row.state,
    result: parsed?.success ? parsed.data : null,
    why: error ?? row.reason,
    expected,
    redirect: echo.redirect_stderr_to_stdout,
  });
  const language = findLanguage(spec.language);
  const main = spec.files?.find((f) => f.name === language?.sourceFile) ?? spec.files?.[0];
  const text: Partial<Record<Field, Buffer | null>> = {
    source_code: spec.source !== undefined ? Buffer.from(spec.source, 'utf8') : main ? bytesOf(main.content, main.encoding) : null,
    stdin: test ? bytesOf(test.stdin, test.stdin_encoding) : null,
    expected_output: expected === undefined ? null : Buffer.from(expected, 'utf8'),
    stdout: buf(outcome.stdout),
    stderr: buf(outcome.stderr),
    compile_output: buf(outcome.compile_output),
    message: buf(outcome.message),
  };
  const status = statusById(outcome.status);
  const all: Record<Field, unknown> = {
    ...Object.fromEntries(LIMIT_FIELDS.map((k) => [k, opts.limits[k].float ? decimal(echo.limits[k]) : echo.limits[k]])),
    source_code: null,
    stdin: null,
    expected_output: null,
    stdout: null,
    stderr: null,
    compile_output: null,
    message: null,
    language_id: language?.judge0Id ?? null,
    status_id: status.id,
    created_at: row.created_at,
    finished_at: row.finished_at,
    time: outcome.time === null ? null : decimal(outcome.time),
    memory: outcome.memory,
    token: row.id,
    enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    exit_code: outcome.exit_code,
    exit_signal: outcome.exit_signal,
    wall_time: outcome.wall_time === null ? null : decimal(outcome.wall_time),
    compiler_options: labels[LABEL_COMPILER_OPTIONS] ?? null,
    command_line_arguments: labels[LABEL_ARGUMENTS] ?? null,
    redirect_stderr_to_stdout: echo.redirect_stderr_to_stdout,
    callback_url: labels[LABEL_CALLBACK] ?? null,
    // The archive itself is not kept: its files became the job's files.
    additional_files: null,
    enable_network: false,
    status: { id: status.id, description: status.description },
    language: language ? { id: language.judge0Id, name: judge0Name(language, opts.health) } : null,
  } as Record<Field, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of opts.fields) {
    if (!TEXT_FIELDS.has(f)) {
      out[f] = all[f];
      continue;
    }
    const bytes = text[f] ?? null;
    if (bytes === null) out[f] = null;
    else if (opts.base64) out[f] = encode64(bytes);
    else {
      const s = utf8(bytes);
      if (s === undefined) throw new Judge0Error(400, { error: CONVERSION_ERROR });
      out[f] = s;
    }
  }
  return out;
}

const buf = (s: string | null) => (s === null ? null : Buffer.from(s, 'utf8'));

function readEcho(raw: string | undefined, limits: Judge0Limits): Echo {
  const defaults = Object.fromEntries(LIMIT_FIELDS.map((k) => [k, limits[k].default])) as Echo['limits'];
  try {
    const e = JSON.parse(raw ?? '{}') as Partial<Echo>;
    return { limits: { ...defaults, ...e.limits }, redirect_stderr_to_stdout: e.redirect_stderr_to_stdout === true };
  } catch {
    return { limits: defaults, redirect_stderr_to_stdout: false };
  }
}
