import { z } from 'zod';

/** One test's limits (or a compile's), as the judge applies them to one exec. */
export const testLimitsShape = {
  /** CPU time of the program and what it starts; past it: time_limit_exceeded. */
  cpu_time_ms: z.number().int().positive(),
  /**
   * CPU time beyond cpu_time_ms before the program is killed (Judge0's cpu_extra_time): a program
   * that ends within it is still time_limit_exceeded, but its output and figures are its own.
   */
  cpu_extra_ms: z.number().int().min(0),
  /** Wall time; past it: time_limit_exceeded (a sleeping or blocked program). */
  wall_time_ms: z.number().int().positive(),
  /** Peak resident memory; past it: memory_limit_exceeded. */
  memory_mb: z.number().int().positive(),
  /** Processes and threads at once. */
  pids: z.number().int().positive(),
  /** stdout and stderr, each; past it: output_limit_exceeded. */
  output_bytes: z.number().int().positive(),
  /** Largest file the program may write. */
  file_size_kb: z.number().int().positive(),
  /** The main thread's stack (RLIMIT_STACK); deep recursion past it is a runtime_error (SIGSEGV). */
  stack_kb: z.number().int().positive(),
};
export const TestLimits = z.strictObject(testLimitsShape);
export type TestLimits = z.infer<typeof TestLimits>;

/** Any of them may be set; the rest keep their defaults. */
const limitsOf = (d: TestLimits) =>
  TestLimits.partial()
    .default(d)
    .transform((v): TestLimits => ({ ...d, ...v }));

/** Judge0's documented defaults and caps (cpu 5 s of 15, wall 10 s of 20, memory 128,000 KB of 512,000, stack 64,000 KB of 128,000). */
export const JUDGE_TEST_DEFAULTS: TestLimits = {
  cpu_time_ms: 5000,
  cpu_extra_ms: 0,
  wall_time_ms: 10_000,
  memory_mb: 128,
  pids: 64,
  output_bytes: 1024 * 1024,
  file_size_kb: 1024,
  stack_kb: 64_000,
};
export const JUDGE_TEST_MAX: TestLimits = {
  cpu_time_ms: 15_000,
  cpu_extra_ms: 5000,
  wall_time_ms: 20_000,
  memory_mb: 512,
  pids: 256,
  output_bytes: 16 * 1024 * 1024,
  file_size_kb: 4096,
  stack_kb: 128_000,
};
/** Compilers need more than the programs they build: javac alone starts ~20 threads and wants ~300 MB. */
export const JUDGE_COMPILE_DEFAULTS: TestLimits = {
  cpu_time_ms: 20_000,
  cpu_extra_ms: 0,
  wall_time_ms: 30_000,
  memory_mb: 1024,
  pids: 128,
  output_bytes: 256 * 1024,
  file_size_kb: 64 * 1024,
  stack_kb: 64_000,
};

/** Judge jobs (src/judge/): the image their languages run in, and the limits a submission may ask for. */
export const JudgeConfig = z
  .strictObject({
    /** The Paddock image holding every judge language (scripts/build-images.sh builds `judge`). */
    image: z.string().min(1).default('judge'),
    limits: z
      .strictObject({ default: limitsOf(JUDGE_TEST_DEFAULTS), max: limitsOf(JUDGE_TEST_MAX) })
      .default({ default: JUDGE_TEST_DEFAULTS, max: JUDGE_TEST_MAX }),
    compile_limits: limitsOf(JUDGE_COMPILE_DEFAULTS),
    /** Tests one submission may have. */
    max_tests: z.number().int().min(1).max(10_000).default(500),
    /** Sandboxes one submission may run its tests in at once. */
    max_parallel: z.number().int().min(1).max(64).default(4),
    /** Source and test files of one submission, all together. */
    max_source_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** What each test keeps of its stdout and stderr in the result (the verdict reads all of it, up to output_bytes). */
    result_output_bytes: z.number().int().min(0).default(16 * 1024),
    /** Each language's smoke program runs at start and then this often; a failing language is refused (503). 0: only at start. */
    smoke_interval_ms: z.number().int().min(0).default(3600_000),
    /** Off: no smoke tests at all (test runners that never judge); languages are then never refused. */
    smoke: z.boolean().default(true),
    /** Where the Piston v2 compatible API is served (src/server/compat/piston/); empty: not served. */
    piston_prefix: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'must be empty or a path such as /piston (no trailing slash)')
      .default('/piston'),
    /**
     * Piston clients send no token: on, a request from loopback without an Authorization header is let in
     * as the piston-compat token. Off (default): a bearer token as everywhere. Never on behind a proxy on this host.
     */
    piston_open_loopback: z.boolean().default(false),
    /** Where the Judge0 CE compatible API is served (src/server/compat/judge0/); empty: not served. */
    judge0_prefix: z
      .string()
      .regex(/^(?:\/[A-Za-z0-9._~-]+)*$/, 'must be empty or a path such as /judge0 (no trailing slash)')
      .default('/judge0'),
  })
  .prefault({});
export type JudgeConfig = z.infer<typeof JudgeConfig>;
