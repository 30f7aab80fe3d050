import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { JobPlan } from '../jobs/kind.js';
import type { SandboxDriver } from '../sandbox/driver.js';
import type { SmokeProbe } from './health.js';
import { planJudge } from './plan.js';
import { JudgeJobSpec } from './spec.js';
import { judgeTest } from './verdict.js';
import { JudgeWorker } from './worker.js';

const SMOKE_TIMEOUT_MS = 120_000;
let seq = 0;

/**
 * A language's smoke test: its smoke program compiled and run exactly as a submission would be
 * (same image, limits and commands), on the driver judge jobs get by default. It must be accepted.
 */
export function smokeProbe(config: Config, driver: () => SandboxDriver): SmokeProbe {
  return async (lang) => {
    const spec = JudgeJobSpec.parse({ kind: 'judge', language: lang.id, source: lang.smoke.source, tests: [{ stdin: lang.smoke.stdin, expected_output: lang.smoke.expected }] });
    const planned = planJudge(spec, config);
    const plan: JobPlan = planned.plan;
    const signal = AbortSignal.timeout(SMOKE_TIMEOUT_MS);
    const worker = new JudgeWorker({
      id: `smoke-${lang.id}-${process.pid}-${seq++}`,
      driver: driver(),
      image: plan.image!,
      limits: plan.limits,
      language: lang,
      files: [{ path: lang.sourceFile, content: Buffer.from(lang.smoke.source), mode: 0o644 }],
      options: [],
      args: [],
      test: planned.test,
      compile: planned.compile,
      keepBytes: 2000,
    });
    try {
      const compiled = await worker.start(signal);
      if (compiled && compiled.verdict !== 'accepted') {
        throw new PaddockError('language_unhealthy', `the smoke program does not compile (${compiled.verdict}): ${compiled.output.slice(0, 500)}`);
      }
      const r = await worker.run({ stdin: Buffer.from(lang.smoke.stdin), args: [], files: [] }, signal);
      const t = judgeTest({ name: 'smoke', result: r, expected: lang.smoke.expected, limits: planned.test, compare: 'exact', language: lang, keepBytes: 2000 });
      if (t.verdict !== 'accepted') {
        const said = (t.diff_hint ?? t.stderr ?? '').slice(0, 500);
        throw new PaddockError('language_unhealthy', `the smoke program's verdict is ${t.verdict}${said ? `: ${said}` : ''}`);
      }
      return { version: await worker.version(signal) };
    } finally {
      await worker.close();
    }
  };
}
