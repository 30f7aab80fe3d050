import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { PaddockError } from '../../errors.js';
import type { JobSpecInput, PaddockClient } from '../../client/index.js';
import { connect } from '../client.js';

/** Exit codes for a job that ended without an exit code of its own (as `timeout` and shells do). */
export const RUN_EXIT = { timed_out: 124, failed: 125, cancelled: 130 } as const;

const collect = (value: string, previous: string[]) => [...previous, value];

export function clientOptions(cmd: Command): Command {
  return cmd
    .option('--url <urls>', "runner URL, or a fleet's URLs comma-separated, tried in turn (PADDOCK_URL); default http://127.0.0.1:7878")
    .option('--token <token>', 'API token (PADDOCK_TOKEN); default: the local admin token file');
}

export function runCommand(program: Command): void {
  clientOptions(
    program
      .command('run')
      .description('run a command in a sandbox, stream its output, exit with its exit code')
      .argument('<command...>', 'command and arguments (put them after --)')
      .option('--image <image>', 'sandbox image')
      .option('--driver <driver>', 'sandbox driver (auto picks the strongest available)', 'auto')
      .option('--timeout <duration>', 'wall time limit, e.g. 30s, 2m, 500ms')
      .option('--memory <mb>', 'memory limit in MiB')
      .option('--file <path[:dest]>', 'copy a local file into the work dir (repeatable)', collect, [])
      .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
      .option('-i, --stdin', 'send this process’s stdin to the job')
      .option('--detach', 'print the job id and exit without waiting')
      .addOption(new Option('--network <mode>', 'network mode').choices(['none', 'egress']).default('none'))
      .option('--allow <cidr|host>', 'with --network egress: narrow egress to this IPv4 CIDR or hostname (repeatable)', collect, []),
  ).action(async (command: string[], opts) => {
    const client = connect(opts);
    const limits: Record<string, number> = {};
    if (opts.timeout) limits.timeout_ms = parseDuration(opts.timeout);
    if (opts.memory) limits.memory_mb = Number(opts.memory);
    const spec: JobSpecInput = {
      kind: 'command',
      command,
      driver: opts.driver,
      network: (opts.allow as string[]).length ? { mode: opts.network, allow: opts.allow } : opts.network,
      ...(opts.image ? { image: opts.image } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
      env: Object.fromEntries((opts.env as string[]).map(splitEnv)),
      files: (opts.file as string[]).map(readLocalFile),
      ...(opts.stdin ? { stdin: readFileSync(0).toString('base64'), stdin_encoding: 'base64' as const } : {}),
    };
    const job = await submitWithRetry(client, spec);
    if (opts.detach) {
      process.stdout.write(`${job.id}\n`);
      return;
    }
    // Ctrl-C cancels the job rather than leaving it running unattended.
    process.once('SIGINT', () => {
      void client.jobs.cancel(job.id).catch(() => undefined);
    });
    for await (const e of client.jobs.events(job.id, { follow: true })) {
      if (e.event === 'stdout') process.stdout.write(e.data.data);
      else if (e.event === 'stderr') process.stderr.write(e.data.data);
    }
    process.exitCode = exitCodeOf(await client.jobs.get(job.id));
  });
}

/** Retries a submit refused with 429 queue_full (or a rate quota) after its Retry-After, a few times. */
async function submitWithRetry(client: PaddockClient, spec: JobSpecInput, attempts = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.jobs.submit(spec);
    } catch (err) {
      const retryable = err instanceof PaddockError && (err.code === 'queue_full' || err.code === 'quota_exceeded');
      if (!retryable || attempt >= attempts || err.retryAfterS === undefined) throw err;
      const s = Math.min(60, Math.max(1, err.retryAfterS));
      process.stderr.write(`paddock: ${err.code}: ${err.message}; retrying in ${s} s (${attempt}/${attempts - 1})\n`);
      await new Promise((resolve) => setTimeout(resolve, s * 1000));
    }
  }
}

export function exitCodeOf(job: { state: string; reason?: string; result?: { exit_code?: number | null } | object; error?: { message: string } }): number {
  if (job.state === 'succeeded') return 0;
  if (job.state === 'timed_out') {
    process.stderr.write('paddock: job timed out\n');
    return RUN_EXIT.timed_out;
  }
  if (job.state === 'cancelled') return RUN_EXIT.cancelled;
  if (job.state === 'expired') {
    process.stderr.write('paddock: job expired: not started within its queue_timeout_ms\n');
    return RUN_EXIT.failed;
  }
  const exit = job.result && 'exit_code' in job.result ? job.result.exit_code : null;
  if (exit != null && exit !== 0) return exit;
  process.stderr.write(`paddock: job failed: ${job.reason ?? 'unknown'}${job.error ? ` (${job.error.message})` : ''}\n`);
  return RUN_EXIT.failed;
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new PaddockError('validation_failed', `cannot read duration "${text}" (try 30s, 2m, 500ms)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function splitEnv(pair: string): [string, string] {
  const i = pair.indexOf('=');
  if (i <= 0) throw new PaddockError('validation_failed', `--env takes KEY=VALUE, not "${pair}"`);
  return [pair.slice(0, i), pair.slice(i + 1)];
}

function readLocalFile(arg: string) {
  const [local, dest] = arg.split(':') as [string, string | undefined];
  let content: Buffer;
  try {
    content = readFileSync(local);
  } catch (err) {
    throw new PaddockError('validation_failed', `cannot read --file ${local}: ${(err as Error).message}`);
  }
  return { path: dest ?? path.basename(local), content: content.toString('base64'), encoding: 'base64' as const };
}
