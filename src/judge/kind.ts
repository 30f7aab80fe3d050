import type { TestLimits } from '../config/judge.js';
import type { Config } from '../config/schema.js';
import type { JobContext, JobKind, JobOutcome } from '../jobs/kind.js';
import type { LanguageHealth } from './health.js';
import { findLanguage } from './languages.js';
import { planJudge } from './plan.js';
import { JudgeResult } from './result.js';
import { judgeSubmission } from './run.js';
import type { JudgeJobSpec } from './spec.js';

/** The spec as stored: what the plan resolved at submit travels with it. */
export type StoredJudgeSpec = JudgeJobSpec & { test_limits: TestLimits; compile_limits_resolved: TestLimits; parallel: number };

/** `judge` jobs: a program against many tests with a verdict each (src/judge/). */
export function judgeKind(deps: { config: Config; health: LanguageHealth }): JobKind<StoredJudgeSpec> {
  const { config, health } = deps;
  return {
    name: 'judge',
    result: JudgeResult,
    retrySafe: true,
    plan: (spec, cfg) => planJudge(spec, cfg, health).plan,
    async run(ctx: JobContext<StoredJudgeSpec>): Promise<JobOutcome> {
      const { spec } = ctx;
      const language = findLanguage(spec.language)!;
      const result = await judgeSubmission({
        id: ctx.jobId,
        driver: ctx.driver,
        image: config.judge.image,
        limits: ctx.limits,
        language,
        version: health.version(language.id) ?? '',
        source: spec.source,
        files: spec.files,
        compileOptions: spec.compile_options,
        args: spec.args,
        tests: spec.tests,
        test: spec.test_limits,
        compile: spec.compile_limits_resolved,
        compare: spec.compare,
        parallel: spec.parallel,
        stopOnFailure: spec.stop_on_failure,
        keepBytes: config.judge.result_output_bytes,
        signal: ctx.signal,
        log: ctx.log,
        onTest: (index, t) =>
          ctx.event('judge.test', { index, name: t.name, verdict: t.verdict, cpu_ms: t.cpu_ms, wall_ms: t.wall_ms, memory_kb: t.memory_kb }),
      });
      const why = ctx.signal.aborted ? String(ctx.signal.reason) : undefined;
      const base = { exitCode: null, result };
      if (why === 'timeout') return { ...base, state: 'timed_out', reason: 'timeout' };
      if (why === 'cancel') return { ...base, state: 'cancelled', reason: 'cancelled' };
      if (why === 'shutdown') return { ...base, state: 'failed', reason: 'runner_shutdown' };
      return { ...base, state: 'succeeded', reason: 'judged' };
    },
  };
}
