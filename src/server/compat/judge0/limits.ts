import type { JudgeConfig } from '../../../config/judge.js';

/** A numeric submission field: its default, its cap, and Rails' lower bound (`>=` min, or `>` 0). */
export interface NumberField {
  default: number;
  max: number;
  min: number;
  /** `greater_than` instead of `greater_than_or_equal_to`. */
  exclusiveMin?: boolean;
  /** Seconds as floats (rendered "5.0"); the rest are integers. */
  float?: boolean;
}

export const LIMIT_FIELDS = [
  'cpu_time_limit',
  'cpu_extra_time',
  'wall_time_limit',
  'memory_limit',
  'stack_limit',
  'max_processes_and_or_threads',
  'max_file_size',
  'number_of_runs',
] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];
export type Judge0Limits = Record<LimitField, NumberField>;

/** Judge0 CE's judge0.conf and submission.rb (v1.13): defaults, caps and lower bounds. */
const JUDGE0: Judge0Limits = {
  cpu_time_limit: { default: 5, max: 15, min: 0, float: true },
  cpu_extra_time: { default: 1, max: 5, min: 0, float: true },
  wall_time_limit: { default: 10, max: 20, min: 1, float: true },
  memory_limit: { default: 128_000, max: 512_000, min: 2048 },
  stack_limit: { default: 64_000, max: 128_000, min: 0 },
  max_processes_and_or_threads: { default: 60, max: 120, min: 0, exclusiveMin: true },
  max_file_size: { default: 1024, max: 4096, min: 0 },
  number_of_runs: { default: 1, max: 20, min: 0, exclusiveMin: true },
};

/**
 * Judge0's own defaults and caps, each cap lowered to what this runner allows (judge.limits.max,
 * judge.max_tests), each default to its cap. On a default runner they are exactly Judge0's.
 */
export function judge0Limits(j: JudgeConfig): Judge0Limits {
  const m = j.limits.max;
  const caps: Record<LimitField, number> = {
    cpu_time_limit: m.cpu_time_ms / 1000,
    cpu_extra_time: m.cpu_extra_ms / 1000,
    wall_time_limit: m.wall_time_ms / 1000,
    memory_limit: m.memory_mb * 1024,
    stack_limit: m.stack_kb,
    max_processes_and_or_threads: m.pids,
    max_file_size: Math.min(m.file_size_kb, Math.floor(m.output_bytes / 1024)),
    number_of_runs: j.max_tests,
  };
  return Object.fromEntries(
    LIMIT_FIELDS.map((k) => {
      const max = Math.min(JUDGE0[k].max, caps[k]);
      return [k, { ...JUDGE0[k], max, default: Math.min(JUDGE0[k].default, max) }];
    }),
  ) as Judge0Limits;
}

/** What one test runs with, from a submission's Judge0 limits (seconds and KB). */
export function testLimitsOf(v: Record<LimitField, number>, caps: Judge0Limits) {
  // isolate reads 0 as "no limit": here that is the cap.
  const seconds = (k: 'cpu_time_limit' | 'wall_time_limit') => Math.max(1, Math.round((v[k] || caps[k].max) * 1000));
  const fileKb = Math.max(1, v.max_file_size);
  return {
    cpu_time_ms: seconds('cpu_time_limit'),
    cpu_extra_ms: Math.round(v.cpu_extra_time * 1000),
    wall_time_ms: seconds('wall_time_limit'),
    memory_mb: Math.ceil(v.memory_limit / 1024),
    pids: v.max_processes_and_or_threads,
    file_size_kb: fileKb,
    // Judge0 writes stdout to a file, so max_file_size bounds it too.
    output_bytes: fileKb * 1024,
    stack_kb: Math.max(1, v.stack_limit || caps.stack_limit.max),
  };
}
