import type { JudgeConfig, TestLimits } from '../../../config/judge.js';
import { PaddockError } from '../../../errors.js';
import type { LanguageHealth } from '../../../judge/health.js';
import type { Language } from '../../../judge/languages.js';
import { FILE_NAME_RE, JudgeJobSpec } from '../../../judge/spec.js';
import { pistonLanguage, semverOf, versionMatches } from './runtimes.js';

/** A Piston request refused with Piston's own message (400 `{"message": …}`). */
export const refused = (message: string, field?: string) => new PaddockError('validation_failed', message, field ? { field } : undefined);

const MIB = 1024 * 1024;

/** What a Piston request may ask for at most, in Paddock's units: the judge's caps (a compile's are raised as the native API raises them). */
export function pistonCaps(j: JudgeConfig): { run: TestLimits; compile: TestLimits } {
  const compile = Object.fromEntries(
    Object.entries(j.compile_limits).map(([k, v]) => [k, Math.max(v, j.limits.max[k as keyof TestLimits])]),
  ) as unknown as TestLimits;
  return { run: j.limits.max, compile };
}

/** Piston's limit fields, in its order of checking, with the Paddock limit each one sets and the unit it comes in. */
const CONSTRAINTS = [
  { name: 'memory_limit', limit: 'memory_mb', perUnit: MIB },
  { name: 'timeout', limit: 'wall_time_ms', perUnit: 1 },
  { name: 'cpu_time', limit: 'cpu_time_ms', perUnit: 1 },
] as const;

export interface PistonExecute {
  spec: JudgeJobSpec;
  language: Language;
  version: string;
}

type Body = Record<string, unknown>;

/**
 * A `POST /api/v2/execute` body checked in Piston's order and with its messages (api/src/api/v2.js),
 * then made a judge job of one test with no expected output. The first UTF-8 file is the program and
 * is written under the language's own entry name (main.py, Main.java…); the others keep their names,
 * which must be plain file names here (Piston would take paths).
 */
export function pistonExecute(raw: unknown, deps: { judge: JudgeConfig; health: Pick<LanguageHealth, 'list' | 'check'> }): PistonExecute {
  const body: Body = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Body) : {};
  const { language, version, files } = body;
  if (!language || typeof language !== 'string') throw refused('language is required as a string', 'language');
  if (!version || typeof version !== 'string') throw refused('version is required as a string', 'version');
  if (!files || !Array.isArray(files)) throw refused('files is required as an array', 'files');
  files.forEach((f: unknown, i) => {
    if (f === null || typeof f !== 'object' || typeof (f as Body).content !== 'string') throw refused(`files[${i}].content is required as a string`, `files[${i}].content`);
  });
  const { lang, known } = runtimeOf(language, version, deps);
  const given = files as Body[];
  if (!given.some((f) => !f.encoding || f.encoding === 'utf8')) throw refused('files must include at least one utf8 encoded file', 'files');

  const caps = pistonCaps(deps.judge);
  const limits: Record<'run' | 'compile', Partial<TestLimits>> = { run: {}, compile: {} };
  for (const c of CONSTRAINTS) {
    for (const stage of ['compile', 'run'] as const) {
      const name = `${stage}_${c.name}`;
      const value = body[name];
      if (!value) continue; // absent, null or 0: the runner's default, as in Piston
      if (typeof value !== 'number') throw refused(`If specified, ${name} must be a number`, name);
      if (c.name === 'memory_limit' && value === -1) continue; // Piston's "no limit": the runner's default
      const max = caps[stage][c.limit] * c.perUnit;
      if (value > max) throw refused(`${name} cannot exceed the configured limit of ${max}`, name);
      if (value < 0) throw refused(`${name} must be non-negative`, name);
      limits[stage][c.limit] = Math.max(1, Math.ceil(value / c.perUnit));
    }
  }

  const args = body.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw refused('args must be an array of strings', 'args');
  let stdin = body.stdin ?? '';
  if (typeof stdin !== 'string') throw refused('stdin must be a string', 'stdin');
  // Piston ends stdin with a newline when it has none (api/src/job.js); programs reading a line rely on it.
  if (!stdin.endsWith('\n')) stdin += '\n';

  const parsed = JudgeJobSpec.safeParse({
    kind: 'judge',
    language: lang.id,
    files: judgeFiles(given, lang),
    ...(args.length ? { args } : {}),
    tests: [{ name: 'run', stdin }],
    limits: limits.run,
    ...(lang.compile && Object.keys(limits.compile).length ? { compile_limits: limits.compile } : {}),
    compare: 'exact',
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw refused(`${issue.path.join('.') || 'body'}: ${issue.message}`, issue.path.join('.'));
  }
  return { spec: parsed.data, language: lang, version: known };
}

const versionOf = (lang: Language, health: Pick<LanguageHealth, 'list'>) => health.list().find((s) => s.id === lang.id)?.version ?? null;

/**
 * The runtime a request names: unknown to Piston when no language or version matches; a language
 * whose smoke test failed is refused as everywhere (503), and one not yet tested has no version to match.
 */
function runtimeOf(
  language: string,
  version: string,
  deps: { judge: JudgeConfig; health: Pick<LanguageHealth, 'list' | 'check'> },
): { lang: Language; known: string } {
  const unknown = () => refused(`${language}-${version} runtime is unknown`, 'version');
  const lang = pistonLanguage(language);
  if (!lang) throw unknown();
  deps.health.check(lang.id);
  const known = semverOf(versionOf(lang, deps.health));
  if (!known) {
    throw new PaddockError(
      'language_unhealthy',
      deps.judge.smoke
        ? `${lang.piston.name} has not passed its smoke test yet, so its version is not known; try again shortly`
        : `${lang.piston.name} has no known version: this runner runs no smoke tests (judge.smoke), which the Piston API takes versions from`,
      { language: lang.id },
    );
  }
  if (!versionMatches(known, version)) throw unknown();
  return { lang, known };
}

/** Piston's files as judge files: the entry under the language's name, base64 and hex as base64, names checked. */
function judgeFiles(files: Body[], lang: Language): { name: string; content: string; encoding: 'utf8' | 'base64' }[] {
  const encodingOf = (f: Body) => (f.encoding === 'base64' || f.encoding === 'hex' ? f.encoding : 'utf8');
  const entry = files.findIndex((f) => encodingOf(f) === 'utf8');
  const seen = new Set<string>();
  return files.map((f, i) => {
    const name = i === entry ? lang.sourceFile : typeof f.name === 'string' && f.name ? f.name : `file${i}.code`;
    if (!FILE_NAME_RE.test(name)) throw refused(`files[${i}].name "${name.slice(0, 100)}" must be a plain file name (letters, digits, _ . + -; no directories)`, `files[${i}].name`);
    if (seen.has(name)) {
      throw refused(`files[${i}].name "${name}" is taken: the first utf8 file is written as ${lang.sourceFile}, and names must be unique`, `files[${i}].name`);
    }
    seen.add(name);
    const content = f.content as string;
    const enc = encodingOf(f);
    if (enc === 'hex') {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(content)) throw refused(`files[${i}].content is not valid hex`, `files[${i}].content`);
      return { name, content: Buffer.from(content, 'hex').toString('base64'), encoding: 'base64' };
    }
    return { name, content, encoding: enc };
  });
}
