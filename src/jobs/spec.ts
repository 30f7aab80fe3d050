import path from 'node:path';
import { z } from 'zod';
import { limitsShape } from '../config/schema.js';

const MAX_FILES = 100;

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');
const NoNul = (what: string) => z.string().refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

const WorkRelativePath = NoNul('path')
  .min(1)
  .max(4096)
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

/** Limits as a job may ask for them; each is checked against the runner's maxima later. */
export const JobLimits = z.strictObject(Object.fromEntries(
  Object.entries(limitsShape).map(([k, v]) => [k, v.optional()]),
) as { [K in keyof typeof limitsShape]: z.ZodOptional<(typeof limitsShape)[K]> });

const common = {
  stdin: z.string().optional(),
  stdin_encoding: z.enum(['utf8', 'base64']).default('utf8'),
  files: z.array(FileSpec).max(MAX_FILES).default([]),
  env: z.record(EnvName, NoNul('env value')).default({}),
  cwd: z
    .string()
    .refine((p) => path.posix.isAbsolute(p) && !p.includes('\0'), 'must be an absolute path')
    .default('/work'),
  driver: z.string().min(1).default('auto'),
  image: z.string().min(1).max(200).optional(),
  network: z.enum(['none', 'egress']).default('none'),
  limits: JobLimits.default({}),
  labels: z.record(z.string().min(1).max(100), z.string().max(1000)).optional(),
  priority: z.number().int().min(-100).max(100).default(0),
  /** Requeue instead of failing when the runner restarts while this job runs. */
  retry_on_restart: z.boolean().default(false),
};

export const CommandJobSpec = z
  .strictObject({
    kind: z.literal('command'),
    command: z.array(NoNul('argument')).min(1).optional(),
    script: NoNul('script').min(1).optional(),
    /** Interpreter for `script`; it receives `-c SCRIPT`. */
    shell: z.string().min(1).default('/bin/sh'),
    ...common,
  })
  .refine((s) => (s.command === undefined) !== (s.script === undefined), {
    message: 'give exactly one of "command" (argv array) or "script" (shell text)',
    path: ['command'],
  });
export type CommandJobSpec = z.infer<typeof CommandJobSpec>;

/** Every job kind's spec; later kinds (judge, agent, actions) join this union. */
export const JobSpec = CommandJobSpec;
export type JobSpec = CommandJobSpec;
