#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { closeInheritedFds } from '../util/fds.js';
import { VERSION } from '../version.js';
import { reportError } from './output.js';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when it is the one asked for: the server's
 * (runtime, drivers, store) take ~0.5 s to load, which a client command such as
 * `paddock sandbox exec` must not pay on every call. Help loads them all.
 */
const COMMANDS: [string, () => Promise<Register>][] = [
  ['serve', async () => (await import('./commands/serve.js')).serveCommand],
  ['run', async () => (await import('./commands/run.js')).runCommand],
  ['jobs', async () => (await import('./commands/jobs.js')).jobsCommand],
  ['token', async () => (await import('./commands/token.js')).tokenCommand],
  ['config', async () => (await import('./commands/config.js')).configCommand],
  ['doctor', async () => (await import('./commands/doctor.js')).doctorCommand],
  ['image', async () => (await import('./commands/image.js')).imageCommand],
  ['sandbox', async () => (await import('./commands/sandbox.js')).sandboxCommand],
  ['agent', async () => (await import('./commands/agent.js')).agentCommand],
  ['judge', async () => (await import('./commands/judge.js')).judgeCommand],
  ['hosts', async () => (await import('./commands/hosts.js')).hostsCommand],
  ['actions', async () => (await import('./commands/actions.js')).actionsCommand],
];

// The runner must hand no fd it inherited to a sandbox (bwrap passes on every fd it
// gets): close those that are not close-on-exec before anything else opens files.
// `doctor` runs probe sandboxes too.
if (process.argv[2] === 'serve' || process.argv[2] === 'doctor') {
  const closed = closeInheritedFds();
  if (closed > 0) process.stderr.write(`paddock: closed ${closed} inherited file descriptor(s) that were not close-on-exec\n`);
}

// Whoever reads our output went away (`paddock run … | head`): end as SIGPIPE would (141), not
// with an unhandled 'error' event and a stack trace. Commands that must stop remote work first
// (sandbox exec) listen too; leaving drops their connection, which stops it on the runner.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(128 + 13);
  });
}

const program = new Command('paddock')
  .description('Run untrusted work in sandboxes behind an authenticated HTTP job API')
  .version(VERSION)
  .exitOverride()
  .showHelpAfterError();

try {
  const asked = COMMANDS.filter(([name]) => name === process.argv[2]);
  for (const [, load] of asked.length ? asked : COMMANDS) (await load())(program);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Usage errors are exit 2; --help and --version are not errors.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err);
  }
}
