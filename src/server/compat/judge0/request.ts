import { PaddockError } from '../../../errors.js';
import { callbackUrlProblem, checkCallbackDestination } from '../../../jobs/callbacks/url.js';
import { findLanguage, type Language } from '../../../judge/languages.js';
import { COMPILE_OPTION_RE, JudgeJobSpec } from '../../../judge/spec.js';
import { PRINTABLE_RE } from '../../../util/grammar.js';
import { decodeField, utf8 } from './base64.js';
import { Errors, readBoolean, readId, readNumber, readText } from './coerce.js';
import { FieldErrors } from './errors.js';
import { type Judge0Limits, LIMIT_FIELDS, type LimitField, testLimitsOf } from './limits.js';
import { JUDGE0_STRIPPED_RE, shellWords } from './words.js';
import { readZip, ZipError } from './zip.js';

/** What a submission asked that the judge spec has no field for, kept in the job's labels for Judge0's echo. */
export const ECHO_LABEL = 'judge0';
export const LABEL_COMPILER_OPTIONS = 'judge0.compiler_options';
export const LABEL_ARGUMENTS = 'judge0.command_line_arguments';
export const LABEL_CALLBACK = 'judge0.callback_url';

export interface Echo {
  limits: Record<LimitField, number>;
  redirect_stderr_to_stdout: boolean;
}

const MAX_OPTIONS = 512;
/** A label value holds at most 1000 characters. */
const MAX_CALLBACK_URL = 1000;
const MAX_ARGS = 64;
/** Judge0's MAX_EXTRACT_SIZE: 10240 KB unpacked. */
export const MAX_EXTRACT_BYTES = 10_240 * 1024;
/** The judge spec takes 50 files; one is the source. */
const MAX_ADDITIONAL_FILES = 49;

export interface ParseContext {
  base64: boolean;
  limits: Judge0Limits;
  callbacks: { allow_private: boolean };
}

export interface Judge0Request {
  spec: JudgeJobSpec;
  callbackUrl: string | undefined;
}

/** Where a judge spec's own complaints land among Judge0's field names. */
const SPEC_FIELD: Record<string, string> = {
  source: 'source_code',
  files: 'additional_files',
  tests: 'stdin',
  args: 'command_line_arguments',
  compile_options: 'compiler_options',
  labels: 'callback_url',
};

/**
 * One Judge0 submission as a judge job: one test (`number_of_runs` of them, stopping at the first
 * that fails), Judge0's output comparison (`trim`), its limits in seconds and KB turned into the
 * judge's. Unknown attributes are ignored, as Rails' `permit` does. Throws FieldErrors (422).
 */
export function parseSubmission(body: unknown, ctx: ParseContext): Judge0Request {
  const b = (body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const errors = new Errors();
  const text = (name: string) => {
    const raw = readText(b[name], name, errors);
    return raw === undefined ? undefined : ctx.base64 ? decodeOr(raw, name, errors) : Buffer.from(raw, 'utf8');
  };

  const language = readLanguage(b.language_id, errors);
  const source = text('source_code');
  // Blank after decoding, as Judge0 validates it (a bad base64 was already said).
  if (!errors.fields.source_code && (!source || /^\s*$/.test(source.toString('utf8')))) errors.add('source_code', "can't be blank");
  const stdin = text('stdin') ?? Buffer.alloc(0);
  const expectedBytes = text('expected_output');

  const limits = Object.fromEntries(LIMIT_FIELDS.map((k) => [k, readNumber(b[k], k, ctx.limits[k], errors)])) as Record<LimitField, number>;
  const redirect = readBoolean(b.redirect_stderr_to_stdout, 'redirect_stderr_to_stdout', errors);
  for (const k of ['enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit'] as const) {
    if (readBoolean(b[k], k, errors)) errors.add(k, 'this option cannot be enabled');
  }
  // Judge jobs run without a network; Judge0's own message for a server that does not allow it.
  if (readBoolean(b.enable_network, 'enable_network', errors)) errors.add('enable_network', 'enabling network is not allowed');

  const optionsRaw = line(b.compiler_options, 'compiler_options', errors);
  const options = compilerOptions(optionsRaw, language, errors);
  const argsRaw = line(b.command_line_arguments, 'command_line_arguments', errors);
  const args = argsRaw ? commandLine(argsRaw, errors) : undefined;
  const callbackUrl = callback(b.callback_url, ctx, errors);
  const extra = additionalFiles(b.additional_files, errors);
  if (errors.any || !language || !source) throw new FieldErrors(errors.fields);

  const sourceText = utf8(source);
  const others = extra.filter((f) => f.name !== language.sourceFile); // unzip -n: the source file stays
  const program =
    sourceText !== undefined && others.length === 0
      ? { source: sourceText }
      : {
          files: [
            sourceText !== undefined
              ? { name: language.sourceFile, content: sourceText, encoding: 'utf8' as const }
              : { name: language.sourceFile, content: source.toString('base64'), encoding: 'base64' as const },
            ...others.map((f) => ({ name: f.name, content: f.content.toString('base64'), encoding: 'base64' as const })),
          ],
        };
  const stdinText = utf8(stdin);
  const test = {
    ...(stdinText !== undefined ? { stdin: stdinText } : { stdin: stdin.toString('base64'), stdin_encoding: 'base64' as const }),
    ...(expectedBytes !== undefined ? { expected_output: expectedBytes.toString('utf8') } : {}),
  };
  const echo: Echo = { limits, redirect_stderr_to_stdout: redirect };
  const labels: Record<string, string> = { [ECHO_LABEL]: JSON.stringify(echo) };
  if (optionsRaw) labels[LABEL_COMPILER_OPTIONS] = optionsRaw;
  if (argsRaw) labels[LABEL_ARGUMENTS] = argsRaw;
  if (callbackUrl) labels[LABEL_CALLBACK] = callbackUrl;

  const parsed = JudgeJobSpec.safeParse({
    kind: 'judge',
    language: language.id,
    ...program,
    ...(options ? { compile_options: options } : {}),
    ...(args?.length ? { args } : {}),
    tests: Array.from({ length: limits.number_of_runs }, () => test),
    limits: testLimitsOf(limits, ctx.limits),
    compare: 'trim',
    stop_on_failure: true,
    labels,
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors.add(SPEC_FIELD[String(issue.path[0])] ?? 'base', issue.message);
    throw new FieldErrors(errors.fields);
  }
  return { spec: parsed.data, callbackUrl };
}

function decodeOr(raw: string, name: string, errors: Errors): Buffer | undefined {
  try {
    return decodeField(raw, name);
  } catch (err) {
    if (!(err instanceof FieldErrors)) throw err;
    for (const [k, v] of Object.entries(err.fields)) v.forEach((m) => errors.add(k, m));
    return undefined;
  }
}

function readLanguage(raw: unknown, errors: Errors): Language | undefined {
  if (raw === undefined || raw === null || raw === '') {
    errors.add('language_id', "can't be blank");
    return undefined;
  }
  const id = readId(raw);
  const language = id === undefined ? undefined : findLanguage(id);
  if (!language) errors.add('language_id', `language with id ${String(raw).slice(0, 40)} doesn't exist`);
  return language;
}

/** compiler_options or command_line_arguments: at most 512 characters, printable; blank is none. */
function line(raw: unknown, name: string, errors: Errors): string | undefined {
  const value = readText(raw, name, errors);
  if (value === undefined || value.trim() === '') return undefined;
  if (value.length > MAX_OPTIONS) errors.add(name, `is too long (maximum is ${MAX_OPTIONS} characters)`);
  else if (!PRINTABLE_RE.test(value)) errors.add(name, 'must not contain control characters');
  else return value;
  return undefined;
}

function compilerOptions(raw: string | undefined, language: Language | undefined, errors: Errors): string | undefined {
  const stripped = raw?.replace(JUDGE0_STRIPPED_RE, '').trim();
  if (!stripped) return undefined;
  if (language && !language.compile) {
    errors.add('compiler_options', 'setting compiler options is only allowed for compiled languages');
    return undefined;
  }
  const bad = stripped.split(/\s+/).find((o) => !COMPILE_OPTION_RE.test(o));
  if (bad !== undefined) {
    errors.add('compiler_options', `${JSON.stringify(bad.slice(0, 40))} is not a compiler flag (flags such as -O2, -DNAME=1 or -std=c++17)`);
    return undefined;
  }
  return stripped;
}

function commandLine(raw: string, errors: Errors): string[] | undefined {
  const words = shellWords(raw.replace(JUDGE0_STRIPPED_RE, ''));
  if (!words) errors.add('command_line_arguments', 'has an unterminated quote');
  else if (words.length > MAX_ARGS) errors.add('command_line_arguments', `has more than ${MAX_ARGS} arguments`);
  else return words;
  return undefined;
}

function callback(raw: unknown, ctx: ParseContext, errors: Errors): string | undefined {
  const url = readText(raw, 'callback_url', errors);
  if (url === undefined || url === '') return undefined;
  const problem = url.length > MAX_CALLBACK_URL ? `is too long (maximum is ${MAX_CALLBACK_URL} characters)` : callbackUrlProblem(url);
  if (problem) {
    errors.add('callback_url', problem);
    return undefined;
  }
  try {
    checkCallbackDestination(url, ctx.callbacks);
  } catch (err) {
    if (!(err instanceof PaddockError)) throw err;
    errors.add('callback_url', err.message.replace(/^callback_url: /, ''));
    return undefined;
  }
  return url;
}

/** `additional_files`: always base64 (whatever base64_encoded says), a zip of plain files. */
function additionalFiles(raw: unknown, errors: Errors): { name: string; content: Buffer }[] {
  const value = readText(raw, 'additional_files', errors);
  if (value === undefined || value === '') return [];
  const zip = decodeOr(value, 'additional_files', errors);
  if (!zip) return [];
  try {
    return readZip(zip, { maxBytes: MAX_EXTRACT_BYTES, maxEntries: MAX_ADDITIONAL_FILES });
  } catch (err) {
    if (!(err instanceof ZipError)) throw err;
    errors.add('additional_files', err.message);
    return [];
  }
}
