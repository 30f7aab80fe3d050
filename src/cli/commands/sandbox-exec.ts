import { once } from 'node:events';
import { constants } from 'node:os';
import type { Command } from 'commander';
import type { ExecResult } from '../../client/index.js';
import { connect } from '../client.js';
import { collect, parsePairs } from './pairs.js';
import { clientOptions, parseDuration, RUN_EXIT } from './run.js';

export function sandboxExecCommand(sandbox: Command): void {
  clientOptions(
    sandbox
      .command('exec')
      .description('run a command in a sandbox, stream its output, exit with its exit code (128+N for signal N)')
      .argument('<id>', 'sandbox id')
      .argument('<command...>', 'command and arguments (put them after --)')
      .option('-i, --stdin', 'stream this process’s stdin to the command')
      .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
      .option('--cwd <dir>', 'working directory inside the sandbox')
      .option('--timeout <duration>', 'wall time limit, e.g. 30s, 2m, 500ms'),
  ).action(async (id: string, command: string[], opts) => {
    const client = connect(opts);
    const ac = new AbortController();
    const stream = await client.sandboxes.execStream(
      id,
      {
        command,
        env: parsePairs('--env', opts.env),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.timeout ? { timeout_ms: parseDuration(opts.timeout) } : {}),
      },
      { ...(opts.stdin ? { stdin: process.stdin } : {}), signal: ac.signal },
    );
    // Ctrl-C is passed on to the command; a second one drops the connection, which kills it.
    let interrupts = 0;
    const onSigint = () => {
      if (++interrupts > 1 || !stream.execId) ac.abort(new Error('interrupted'));
      else void stream.kill('INT').catch(() => ac.abort(new Error('interrupted')));
    };
    // Whoever reads our output went away (`… | head -1`): stop the command, as SIGPIPE would.
    let outputGone = false;
    const onOutputError = () => {
      outputGone = true;
      ac.abort(new Error('output closed'));
    };
    process.on('SIGINT', onSigint);
    process.stdout.on('error', onOutputError);
    process.stderr.on('error', onOutputError);
    try {
      for await (const e of stream) {
        if (e.type === 'stdout') await write(process.stdout, e.data);
        else if (e.type === 'stderr') await write(process.stderr, e.data);
        else if (e.type === 'exit') process.exitCode = exitCodeOfExec(e.result);
      }
    } catch (err) {
      if (outputGone) process.exitCode = EXIT_SIGPIPE;
      else if (ac.signal.aborted) process.exitCode = RUN_EXIT.cancelled;
      else throw err;
    } finally {
      process.off('SIGINT', onSigint);
    }
  });
}

const EXIT_SIGPIPE = 128 + constants.signals.SIGPIPE;

/** Writes and waits while the terminal (or pipe) is behind: the exec's stream then waits too. */
async function write(out: NodeJS.WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** The command's exit code; 128+N for a signal (as shells report it), 124 when it timed out (as `timeout` does). */
export function exitCodeOfExec(result: ExecResult): number {
  if (result.timed_out) {
    process.stderr.write('paddock: exec timed out\n');
    return RUN_EXIT.timed_out;
  }
  if (result.exit_code !== null) return result.exit_code;
  if (result.signal) {
    const name = result.signal.startsWith('SIG') ? result.signal : `SIG${result.signal}`;
    const n = constants.signals[name as keyof typeof constants.signals];
    if (n !== undefined) return 128 + n;
  }
  return RUN_EXIT.failed;
}
