import type { TestLimits } from '../config/judge.js';
import type { Config, Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { JobPlan } from '../jobs/kind.js';
import type { LanguageHealth } from './health.js';
import { findLanguage, type Language, LANGUAGES } from './languages.js';
import type { JudgeJobSpec } from './spec.js';

/** Room the sandbox keeps beside a test: the agent, the work dir's tmpfs pages, a shell. */
const SANDBOX_MEMORY_HEADROOM_MB = 96;
const SANDBOX_PIDS_HEADROOM = 16;
/** Per test, beyond its own wall time: writing its files, the exec's round trips. */
const PER_TEST_SLACK_MS = 2000;
const JOB_SLACK_MS = 30_000;

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 as Judge0 clients send it (line breaks allowed), refused when it is not base64 at all. */
export function decodeBase64(text: string, field: string): Buffer {
  const compact = text.replace(/[\r\n]/g, '');
  if (compact.length % 4 !== 0 || !BASE64_RE.test(compact)) {
    throw new PaddockError('validation_failed', `${field} is not valid base64`, { field });
  }
  return Buffer.from(compact, 'base64');
}

/** A submission's per-test (or compile) limits: the runner's defaults, then what it asked, refused above the maxima. */
export function resolveTestLimits(asked: Partial<TestLimits> | undefined, defaults: TestLimits, max: TestLimits, field: string): TestLimits {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(asked ?? {}) as [keyof TestLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (v > max[k]) throw new PaddockError('limit_exceeded', `${field}.${k} = ${v} is above this runner's maximum of ${max[k]}`, { field: `${field}.${k}`, max: max[k] });
    out[k] = v;
  }
  return out;
}

export interface JudgePlanned {
  language: Language;
  test: TestLimits;
  compile: TestLimits;
  parallel: number;
}

/** Everything a submission asks checked against this runner; what its sandboxes need. */
export function planJudge(spec: JudgeJobSpec, config: Config, health?: LanguageHealth): JudgePlanned & { plan: JobPlan } {
  const j = config.judge;
  const language = findLanguage(spec.language);
  if (!language) {
    throw new PaddockError('unknown_language', `no judge language "${spec.language}" (known: ${languageIds()})`, { field: 'language' });
  }
  health?.check(language.id);
  if (spec.tests.length > j.max_tests) {
    throw new PaddockError('limit_exceeded', `${spec.tests.length} tests is more than this runner's maximum of ${j.max_tests}`, { field: 'tests', max: j.max_tests });
  }
  const parallel = spec.parallel ?? 1;
  if (parallel > j.max_parallel) {
    throw new PaddockError('limit_exceeded', `parallel = ${parallel} is above this runner's maximum of ${j.max_parallel}`, { field: 'parallel', max: j.max_parallel });
  }
  checkSizes(spec, j.max_source_bytes);
  const test = resolveTestLimits(spec.limits, j.limits.default, j.limits.max, 'limits');
  // A compiler may need more than the programs it builds: its defaults raise the caps for it.
  const compileMax = maxOf(j.compile_limits, j.limits.max);
  const compile = resolveTestLimits(spec.compile_limits, j.compile_limits, compileMax, 'compile_limits');
  const runTime = Math.ceil(spec.tests.length / parallel) * (test.wall_time_ms + PER_TEST_SLACK_MS);
  const wanted: Limits = {
    timeout_ms: (language.compile ? compile.wall_time_ms : 0) + runTime + JOB_SLACK_MS,
    memory_mb: Math.max(test.memory_mb + (language.memoryOverheadMb ?? 0), language.compile ? compile.memory_mb : 0) + SANDBOX_MEMORY_HEADROOM_MB,
    cpu_ms: Math.max(test.cpu_time_ms + test.cpu_extra_ms, language.compile ? compile.cpu_time_ms + compile.cpu_extra_ms : 0) + 1000,
    pids: Math.max(test.pids + (language.runtimeThreads ?? 0), language.compile ? compile.pids : 0) + SANDBOX_PIDS_HEADROOM,
    output_bytes: Math.max(test.output_bytes, compile.output_bytes),
    disk_mb: Math.max(config.limits.default.disk_mb, Math.ceil(Math.max(test.file_size_kb, compile.file_size_kb) / 1024) * 4 + 64),
    open_files: Math.max(config.limits.default.open_files, 1024),
    cpus: 1,
  };
  const max = config.limits.max;
  const limits = Object.fromEntries(Object.entries(wanted).map(([k, v]) => [k, Math.min(v, max[k as keyof Limits])])) as Limits;
  return {
    language,
    test,
    compile,
    parallel,
    plan: { limits, network: 'none', image: j.image, fitDriver: true, stored: { test_limits: test, compile_limits_resolved: compile, parallel } },
  };
}

const languageIds = () => LANGUAGES.map((l) => l.id).join(', ');

const maxOf = (a: TestLimits, b: TestLimits): TestLimits =>
  Object.fromEntries(Object.keys(a).map((k) => [k, Math.max(a[k as keyof TestLimits], b[k as keyof TestLimits])])) as TestLimits;

/** Source, files and test inputs all together, as bytes; base64 checked on the way. */
function checkSizes(spec: JudgeJobSpec, max: number): void {
  let total = 0;
  const add = (text: string, encoding: 'utf8' | 'base64', field: string) => {
    total += encoding === 'base64' ? decodeBase64(text, field).length : Buffer.byteLength(text);
  };
  if (spec.source !== undefined) add(spec.source, 'utf8', 'source');
  spec.files?.forEach((f, i) => add(f.content, f.encoding, `files[${i}].content`));
  spec.tests.forEach((t, i) => {
    add(t.stdin, t.stdin_encoding, `tests[${i}].stdin`);
    if (t.expected_output !== undefined) add(t.expected_output, 'utf8', `tests[${i}].expected_output`);
    t.files?.forEach((f, k) => add(f.content, f.encoding, `tests[${i}].files[${k}].content`));
  });
  if (total > max) {
    throw new PaddockError('limit_exceeded', `the submission's source, files and tests are ${total} bytes, above this runner's maximum of ${max}`, {
      field: 'tests',
      max,
    });
  }
}
