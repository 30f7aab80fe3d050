import { WORK_DIR } from '../../sandbox/driver.js';
import { networkAllow, networkMode } from '../../sandbox/egress/job-network.js';
import type { JobContext, JobKind, JobOutcome } from '../kind.js';
import { outcomeOfExec } from '../kind.js';
import { CommandResult } from '../result.js';
import type { CommandJobSpec } from '../spec.js';

/** What every command sees before the job's own env is applied. */
const BASE_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
  HOME: WORK_DIR,
  USER: 'sandbox',
  LOGNAME: 'sandbox',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
};

const decode = (text: string, encoding: 'utf8' | 'base64') => Buffer.from(text, encoding);

/** `command` jobs: one argv or shell script in a fresh sandbox. */
export const commandKind: JobKind<CommandJobSpec> = {
  name: 'command',
  result: CommandResult,
  async run(ctx: JobContext<CommandJobSpec>): Promise<JobOutcome> {
    const { spec } = ctx;
    const sandbox = await ctx.driver.create({
      id: ctx.jobId,
      image: spec.image,
      network: networkMode(spec.network),
      egressAllow: networkAllow(spec.network),
      limits: ctx.limits,
      files: spec.files.map((f) => ({ path: f.path, content: decode(f.content, f.encoding), mode: f.mode })),
    });
    try {
      const argv = spec.command ?? [spec.shell, '-c', spec.script!];
      const stdin = spec.stdin === undefined ? undefined : decode(spec.stdin, spec.stdin_encoding);
      const result = await sandbox.exec(
        { argv, cwd: spec.cwd, env: { ...BASE_ENV, ...spec.env }, stdin },
        ctx.output,
        ctx.signal,
      );
      return outcomeOfExec(result);
    } finally {
      await sandbox.destroy();
    }
  },
};
