import type { TestLimits } from '../config/judge.js';
import type { Limits } from '../config/schema.js';
import type { SandboxDriver, SandboxFile } from '../sandbox/driver.js';
import type { Logger } from '../util/log.js';
import type { Compare } from './compare.js';
import type { Language } from './languages.js';
import { decodeBase64 } from './plan.js';
import { type CompileResult, type JudgeResult, overall, type TestResult } from './result.js';
import type { JudgeFile, JudgeTest } from './spec.js';
import { judgeTest } from './verdict.js';
import { internalMessage, JudgeWorker } from './worker.js';

export interface Submission {
  id: string;
  driver: SandboxDriver;
  image: string;
  limits: Limits;
  language: Language;
  version: string;
  source?: string | undefined;
  files?: JudgeFile[] | undefined;
  compileOptions?: string | undefined;
  args?: string[] | undefined;
  tests: JudgeTest[];
  test: TestLimits;
  compile: TestLimits;
  compare: Compare;
  parallel: number;
  stopOnFailure: boolean;
  keepBytes: number;
  signal: AbortSignal;
  log: Logger;
  /** Each test's result as it is known (live progress). */
  onTest?: (index: number, result: TestResult) => void;
}

const fileOf = (f: JudgeFile, field: string): SandboxFile => ({
  path: f.name,
  content: f.encoding === 'base64' ? decodeBase64(f.content, field) : Buffer.from(f.content, 'utf8'),
  mode: 0o644,
});

const testName = (t: JudgeTest, i: number) => t.name ?? `test ${i + 1}`;

const skipped = (name: string): TestResult => ({
  name,
  verdict: 'skipped',
  cpu_ms: null,
  wall_ms: null,
  memory_kb: null,
  exit_code: null,
  signal: null,
  stdout: '',
  stderr: '',
  output_truncated: false,
});

/**
 * Judges one submission: `parallel` sandboxes, each compiling the program once, take the tests in
 * order from one queue. A sandbox that dies under a test (its memory limit took it whole, a crash)
 * is replaced before the next test. Aborting (timeout, cancel) leaves the tests not yet run `skipped`.
 */
export async function judgeSubmission(s: Submission): Promise<JudgeResult> {
  const files = s.files
    ? s.files.map((f, i) => fileOf(f, `files[${i}].content`))
    : [{ path: s.language.sourceFile, content: Buffer.from(s.source ?? '', 'utf8'), mode: 0o644 }];
  const options = (s.compileOptions ?? '').split(/\s+/).filter(Boolean);
  const results: TestResult[] = s.tests.map((t, i) => skipped(testName(t, i)));
  let compile: CompileResult | undefined;
  let stop = false;
  let next = 0;
  let made = 0;

  const newWorker = () =>
    new JudgeWorker({
      id: `${s.id}-${made++}`,
      driver: s.driver,
      image: s.image,
      limits: s.limits,
      language: s.language,
      files,
      options,
      args: s.args ?? [],
      test: s.test,
      compile: s.compile,
      keepBytes: s.keepBytes,
    });

  const lane = async () => {
    let worker = newWorker();
    try {
      const c = await worker.start(s.signal);
      compile ??= c;
      if (c && c.verdict !== 'accepted') {
        stop = true;
        return;
      }
      while (!stop && !s.signal.aborted && next < s.tests.length) {
        const i = next++;
        const t = s.tests[i]!;
        const name = testName(t, i);
        try {
          const r = await worker.run(
            {
              stdin: t.stdin_encoding === 'base64' ? decodeBase64(t.stdin, `tests[${i}].stdin`) : Buffer.from(t.stdin, 'utf8'),
              args: t.args ?? [],
              files: (t.files ?? []).map((f, k) => fileOf(f, `tests[${i}].files[${k}].content`)),
            },
            s.signal,
          );
          if (r.aborted) break;
          results[i] = judgeTest({ name, result: r, expected: t.expected_output, limits: s.test, compare: s.compare, language: s.language, keepBytes: s.keepBytes });
        } catch (err) {
          if (s.signal.aborted) break;
          s.log.warn({ err: internalMessage(err), test: i }, 'judge: a test could not be run');
          results[i] = { ...skipped(name), verdict: 'internal_error', message: internalMessage(err) };
        }
        s.onTest?.(i, results[i]!);
        if (s.stopOnFailure && results[i]!.verdict !== 'accepted') stop = true;
        if (await worker.dead()) {
          await worker.close();
          worker = newWorker();
          const again = await worker.start(s.signal);
          if (again && again.verdict !== 'accepted') stop = true;
        }
      }
    } finally {
      await worker.close();
    }
  };
  const lanes = Math.max(1, Math.min(s.parallel, s.tests.length));
  await Promise.all(Array.from({ length: lanes }, () => lane()));

  const verdicts = overall(results);
  if (compile && compile.verdict !== 'accepted') verdicts.verdict = 'compilation_error';
  return {
    verdict: verdicts.verdict,
    counts: verdicts.counts,
    language: { id: s.language.id, name: s.language.name, version: s.version },
    ...(compile ? { compile } : {}),
    tests: results,
    limits: { ...s.test },
  };
}
