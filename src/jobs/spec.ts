import path from 'node:path';
import { z } from 'zod';
import { JobNetwork } from '../sandbox/egress/job-network.js';
import { ActionsJobSpec } from '../actions/spec.js';
import { AgentJobSpec } from '../agents/spec.js';
import { JudgeJobSpec } from '../judge/spec.js';
import { jobFields, JobLimits } from './spec-fields.js';

export { jobFields, JobLimits };
import {
  DRIVER_NAME_RE,
  IMAGE_REFERENCE_HINT,
  isCleanAbsolutePath,
  isImageReference,
  LABEL_KEY_RE,
  PRINTABLE_RE,
} from '../util/grammar.js';

const MAX_FILES = 100;

const EnvName = z.string().max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');
const AbsolutePath = z
  .string()
  .refine(isCleanAbsolutePath, 'must be an absolute path without "." or ".." segments or control characters');
const NoNul = (what: string) => z.string().refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

const WorkRelativePath = NoNul('path')
  .min(1)
  .max(4096)
  .regex(PRINTABLE_RE, 'must not contain control characters')
  .refine((p) => {
    const resolved = path.posix.resolve('/work', p);
    return resolved.startsWith('/work/');
  }, 'must stay inside the work dir /work');

export const FileSpec = z.strictObject({
  path: WorkRelativePath,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  /** Octal string like "0755" or a number; defaults to 0644. */
  mode: z
    .union([z.number().int().min(0).max(0o777), z.string().regex(/^0?[0-7]{3}$/)])
    .transform((m) => (typeof m === 'string' ? parseInt(m, 8) : m))
    .optional(),
});

const common = {
  stdin: z.string().optional(),
  stdin_encoding: z.enum(['utf8', 'base64']).default('utf8'),
  files: z.array(FileSpec).max(MAX_FILES).default([]),
  env: z
    .record(EnvName, NoNul('env value'))
    .refine((e) => Object.keys(e).length <= 256, 'at most 256 environment variables')
    .default({}),
  cwd: AbsolutePath.default('/work'),
  // Reaches the Engine API as a path and bwrap as a directory: only the reference grammar passes.
  image: z.string().min(1).max(512).refine(isImageReference, IMAGE_REFERENCE_HINT).optional(),
  network: JobNetwork.default('none'),
  ...jobFields,
};

export const CommandJobSpec = z
  .strictObject({
    kind: z.literal('command'),
    command: z.array(NoNul('argument')).min(1).optional(),
    script: NoNul('script').min(1).optional(),
    /** Interpreter for `script`; it receives `-c SCRIPT`. */
    shell: AbsolutePath.default('/bin/sh'),
    ...common,
  })
  .refine((s) => (s.command === undefined) !== (s.script === undefined), {
    message: 'give exactly one of "command" (argv array) or "script" (shell text)',
    path: ['command'],
  });
export type CommandJobSpec = z.infer<typeof CommandJobSpec>;

/** What clients submit (`POST /v1/jobs`). */
export const PublicJobSpec = z.discriminatedUnion('kind', [CommandJobSpec, AgentJobSpec, JudgeJobSpec]);
export type PublicJobSpec = z.infer<typeof PublicJobSpec>;

/** Every job kind's spec: the public ones, and `actions`, which only the Actions intake makes (src/actions/). */
export const JobSpec = z.discriminatedUnion('kind', [CommandJobSpec, AgentJobSpec, JudgeJobSpec, ActionsJobSpec]);
export type JobSpec = z.infer<typeof JobSpec>;
