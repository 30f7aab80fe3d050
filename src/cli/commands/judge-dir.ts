import { closeSync, constants, fstatSync, lstatSync, opendirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import { findLanguage, type Language, LANGUAGES } from '../../judge/languages.js';
import { FILE_NAME_RE } from '../../judge/spec.js';

/** What the CLI reads of a directory at most: it is the user's, but it may hold anything. */
export const DIR_BOUNDS = { entries: 1000, sourceBytes: 4 * 1024 * 1024, testsBytes: 16 * 1024 * 1024 };

export const TESTS_FILE = 'tests.json';
export const RESULTS_FILE = 'results.json';

export interface JudgeDir {
  language: Language;
  /** The entry (main.<ext>, sent as the language's own entry name) and the other sources of its language. */
  files: { name: string; content: string; encoding: 'base64' }[];
  /** In the judge spec's test shape. */
  tests: Record<string, unknown>[];
}

const bad = (message: string) => new PaddockError('validation_failed', message);

/**
 * The runner-image contract: a directory with `main.<ext>` and `tests.json` (`[{input, expected}]`
 * or the judge spec's tests). Nothing in it may be a symlink or anything but a plain file or a
 * directory (directories are not read), so nothing outside it is ever read; every file is opened
 * without following links and read up to a bound.
 */
export function readJudgeDir(dir: string, opts: { language?: string | undefined } = {}): JudgeDir {
  const entries = listDir(dir);
  const files = entries.filter((e) => e.kind === 'file').map((e) => e.name);
  const language = pickLanguage(dir, files, opts.language);
  const entry = files.find((f) => isEntry(f, language))!;
  if (!files.includes(TESTS_FILE)) throw bad(`${dir} has no ${TESTS_FILE}`);

  let total = 0;
  const sources = [entry, ...files.filter((f) => f !== entry && !f.startsWith('.') && language.extensions.some((x) => f.endsWith(x)))];
  const sent = sources.map((name) => {
    if (name !== entry && !FILE_NAME_RE.test(name)) throw bad(`${path.join(dir, name)}: not a plain file name (letters, digits, _ . + -), so it cannot be sent`);
    const content = readBounded(path.join(dir, name), DIR_BOUNDS.sourceBytes - total);
    total += content.length;
    return { name: name === entry ? language.sourceFile : name, content: content.toString('base64'), encoding: 'base64' as const };
  });
  const tests = parseTests(readBounded(path.join(dir, TESTS_FILE), DIR_BOUNDS.testsBytes).toString('utf8'));
  return { language, files: sent, tests };
}

interface Entry {
  name: string;
  kind: 'file' | 'dir';
}

function listDir(dir: string): Entry[] {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw bad(`cannot read ${dir}: ${(err as Error).message}`);
  }
  if (st.isSymbolicLink()) throw bad(`${dir} is a symlink; give the directory itself`);
  if (!st.isDirectory()) throw bad(`${dir} is not a directory`);
  const out: Entry[] = [];
  const handle = opendirSync(dir);
  try {
    for (let d = handle.readSync(); d; d = handle.readSync()) {
      if (out.length >= DIR_BOUNDS.entries) throw bad(`${dir} has more than ${DIR_BOUNDS.entries} entries`);
      const where = path.join(dir, d.name);
      // A file system that does not say an entry's type (DT_UNKNOWN) is asked with lstat.
      const t = d.isFile() || d.isDirectory() || d.isSymbolicLink() ? d : lstatSync(where);
      if (t.isSymbolicLink()) throw bad(`${where} is a symlink; paddock judge reads only plain files inside the directory`);
      if (t.isDirectory()) out.push({ name: d.name, kind: 'dir' });
      else if (t.isFile()) out.push({ name: d.name, kind: 'file' });
      else throw bad(`${where} is not a plain file (a device, FIFO or socket)`);
    }
  } finally {
    handle.closeSync();
  }
  return out;
}

/** `main.<ext>` of a language: its own entry name, the `main` in any case (main.java is sent as Main.java). */
const isEntry = (name: string, lang: Language) => name.toLowerCase() === lang.sourceFile.toLowerCase();

function pickLanguage(dir: string, files: string[], asked: string | undefined): Language {
  if (asked !== undefined) {
    const lang = findLanguage(asked);
    if (!lang) throw new PaddockError('unknown_language', `no judge language "${asked}" (known: ${LANGUAGES.map((l) => l.id).join(', ')})`);
    if (!files.some((f) => isEntry(f, lang))) throw bad(`${dir} has no ${lang.sourceFile} for --language ${lang.id}`);
    return lang;
  }
  const found = LANGUAGES.filter((l) => files.some((f) => isEntry(f, l)));
  if (found.length === 0) throw bad(`${dir} has no main file of a judge language (${LANGUAGES.map((l) => l.sourceFile).join(', ')})`);
  if (found.length > 1) throw bad(`${dir} has several main files (${found.map((l) => l.sourceFile).join(', ')}); pick one with --language`);
  return found[0]!;
}

/** A plain file's bytes, opened without following a link (nor blocking on a FIFO put there meanwhile), at most `max`. */
function readBounded(file: string, max: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw bad(`cannot open ${file}: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(`${file} is not a plain file`);
    const limit = Math.max(0, max);
    if (st.size > limit) throw new PaddockError('limit_exceeded', `${file} is ${st.size} bytes; paddock judge sends at most ${limit} more`);
    const buf = Buffer.alloc(Math.min(limit, st.size) + 1);
    let n = 0;
    for (let got = 1; got > 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n > limit) throw new PaddockError('limit_exceeded', `${file} grew past ${limit} bytes while it was read`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** tests.json: `[{input, expected, name?}]` (the runner-image shape; other keys ignored) or the spec's tests, as they are. */
export function parseTests(text: string): Record<string, unknown>[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw bad(`${TESTS_FILE} is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) throw bad(`${TESTS_FILE} must be a non-empty array of tests`);
  return value.map((t: unknown, i) => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw bad(`${TESTS_FILE}[${i}] must be an object`);
    const o = t as Record<string, unknown>;
    if (!('input' in o) && !('expected' in o)) return o;
    for (const k of ['input', 'expected', 'name'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(`${TESTS_FILE}[${i}].${k} must be a string`);
    }
    return {
      ...(o.name !== undefined ? { name: o.name } : {}),
      stdin: o.input ?? '',
      ...(o.expected !== undefined ? { expected_output: o.expected } : {}),
    };
  });
}

/** results.json, whole or not at all: a new file (never through a link someone put there), renamed over the old one. */
export function writeResults(dir: string, result: unknown): string {
  const target = path.join(dir, RESULTS_FILE);
  const temp = path.join(dir, `.${RESULTS_FILE}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, `${JSON.stringify(result, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw bad(`cannot write ${target}: ${(err as Error).message}`);
  }
  return target;
}
