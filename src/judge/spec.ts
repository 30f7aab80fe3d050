import { z } from 'zod';
import { testLimitsShape } from '../config/judge.js';
import { jobFields } from '../jobs/spec-fields.js';
import { COMPARE_RE, type Compare } from './compare.js';

/** A file name in the work dir: one plain name, no directories, nothing hidden, nothing a shell or a compiler flag could read as more. */
export const FILE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$/;
/** One compile option: a flag, optionally with a value, of the characters flags use. */
export const COMPILE_OPTION_RE = /^-[A-Za-z0-9_=+.,:/-]{1,200}$/;
const MAX_ARGS = 64;

const NoNul = (what: string, max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

export const JudgeFile = z.strictObject({
  name: z.string().regex(FILE_NAME_RE, 'must be a plain file name (letters, digits, _ . + -; no directories)'),
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
});
export type JudgeFile = z.infer<typeof JudgeFile>;

const Args = z.array(NoNul('an argument', 4096)).max(MAX_ARGS);

export const JudgeTest = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters').optional(),
  stdin: z.string().default(''),
  stdin_encoding: z.enum(['utf8', 'base64']).default('utf8'),
  expected_output: z.string().optional(),
  args: Args.optional(),
  files: z.array(JudgeFile).max(20).optional(),
});
export type JudgeTest = z.infer<typeof JudgeTest>;

/** Per-test limits as a submission asks for them; each is capped by judge.limits.max at submit. */
export const JudgeLimits = z.strictObject(
  Object.fromEntries(Object.entries(testLimitsShape).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof testLimitsShape]: z.ZodOptional<(typeof testLimitsShape)[K]>;
  },
);

/**
 * A `judge` job: one program (a `source`, or `files`) in a language of src/judge/languages.ts,
 * compiled once, then run against every test in a fresh process with the test's limits; the
 * result has a verdict per test and overall. The job succeeds when judging ran, whatever the verdict.
 */
export const JudgeJobSpec = z
  .strictObject({
    kind: z.literal('judge'),
    language: z.string().regex(/^[a-z0-9+_.-]{1,32}$/, 'must be a language id such as python, c, cpp, java, javascript or bash'),
    source: z.string().optional(),
    files: z.array(JudgeFile).min(1).max(50).optional(),
    /** Whitespace-separated compiler flags; each must look like a flag (-O2, -DNAME=1, -std=c++20). */
    compile_options: z.string().max(2000).optional(),
    args: Args.optional(),
    tests: z.array(JudgeTest).min(1),
    limits: JudgeLimits.default({}),
    compile_limits: JudgeLimits.optional(),
    compare: z
      .string()
      .regex(COMPARE_RE, 'must be exact, trim, tokens or float:EPS')
      .transform((c) => c as Compare)
      .default('trim'),
    /** Sandboxes the tests run in at once (each compiles the program once); capped by judge.max_parallel. */
    parallel: z.number().int().min(1).optional(),
    /** Stop at the first test that is not accepted; the rest are `skipped`. */
    stop_on_failure: z.boolean().default(false),
    driver: jobFields.driver,
    isolation: jobFields.isolation,
    host_labels: jobFields.host_labels,
    labels: jobFields.labels,
    priority: jobFields.priority,
    retry_on_restart: jobFields.retry_on_restart,
    queue_timeout_ms: jobFields.queue_timeout_ms,
    callback_url: jobFields.callback_url,
    callback_secret: jobFields.callback_secret,
  })
  .refine((s) => (s.source === undefined) !== (s.files === undefined), {
    message: 'give exactly one of "source" or "files"',
    path: ['source'],
  })
  .refine((s) => !s.files || new Set(s.files.map((f) => f.name)).size === s.files.length, {
    message: 'file names must be unique',
    path: ['files'],
  })
  .refine((s) => (s.compile_options ?? '').split(/\s+/).every((o) => o === '' || COMPILE_OPTION_RE.test(o)), {
    message: 'compile_options must be flags such as -O2 or -DNAME=1, separated by spaces',
    path: ['compile_options'],
  });
export type JudgeJobSpec = z.infer<typeof JudgeJobSpec>;
