import { BASE_ENV, type SandboxFile } from '../../sandbox/driver.js';
import { networkAllow, networkMode } from '../../sandbox/egress/job-network.js';
import type { JobContext, JobKind, JobOutcome } from '../kind.js';
import { outcomeOfExec } from '../kind.js';
import { CommandResult } from '../result.js';
import { resolveLimits } from '../limits.js';
import type { CommandJobSpec } from '../spec.js';


const decode = (text: string, encoding: 'utf8' | 'base64') => Buffer.from(text, encoding);

/**
 * A script above this goes in a file rather than argv: Linux caps one argument at
 * 128 KiB (MAX_ARG_STRLEN), and the whole argv+env at a quarter of the stack limit.
 */
const SCRIPT_ARGV_MAX = 64 * 1024;
/** Where such a script lands; drivers accept this one path outside the work dir (see SandboxFile). */
export const SCRIPT_FILE = '/tmp/.paddock/script';

/** The argv for a job, and the internal file a large script travels in. */
export function commandArgv(spec: CommandJobSpec): { argv: string[]; script?: SandboxFile } {
  if (spec.command) return { argv: spec.command };
  const content = Buffer.from(spec.script!, 'utf8');
  if (content.length <= SCRIPT_ARGV_MAX) return { argv: [spec.shell, '-c', spec.script!] };
  return { argv: [spec.shell, SCRIPT_FILE], script: { path: SCRIPT_FILE, content, mode: 0o644 } };
}

/**
 * What making and removing the sandbox may take beyond `timeout_ms`. The command's own time is its
 * exec's wall limit, counted from its start: a sandbox slow to start under load must not eat into it.
 * The job's deadline is that plus this, so a setup that hangs still ends.
 */
export const SETUP_ALLOWANCE_MS = 30_000;

/** `command` jobs: one argv or shell script in a fresh sandbox. */
export const commandKind: JobKind<CommandJobSpec> = {
  name: 'command',
  result: CommandResult,
  retrySafe: true,
  hardTimeoutMs: (spec) => spec.limits.timeout_ms + SETUP_ALLOWANCE_MS,
  plan: (spec, config) => ({ limits: resolveLimits(spec.limits, config), network: networkMode(spec.network), image: spec.image }),
  async run(ctx: JobContext<CommandJobSpec>): Promise<JobOutcome> {
    const { spec } = ctx;
    const { argv, script } = commandArgv(spec);
    const files: SandboxFile[] = spec.files.map((f) => ({ path: f.path, content: decode(f.content, f.encoding), mode: f.mode }));
    if (script) files.push(script);
    const sandbox = await ctx.driver.create({
      id: ctx.jobId,
      image: spec.image,
      network: networkMode(spec.network),
      egressAllow: networkAllow(spec.network),
      limits: ctx.limits,
      files,
    });
    try {
      const stdin = spec.stdin === undefined ? undefined : decode(spec.stdin, spec.stdin_encoding);
      const result = await sandbox.exec(
        { argv, cwd: spec.cwd, env: { ...BASE_ENV, ...spec.env }, stdin, limits: { wallMs: ctx.limits.timeout_ms } },
        ctx.output,
        ctx.signal,
      );
      return outcomeOfExec(result);
    } finally {
      await sandbox.destroy();
    }
  },
};
