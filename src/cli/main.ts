#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { closeInheritedFds } from '../util/fds.js';
import { VERSION } from '../version.js';
import { configCommand } from './commands/config.js';
import { doctorCommand } from './commands/doctor.js';
import { imageCommand } from './commands/image.js';
import { jobsCommand } from './commands/jobs.js';
import { runCommand } from './commands/run.js';
import { sandboxCommand } from './commands/sandbox.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { reportError } from './output.js';

// The runner must hand no fd it inherited to a sandbox (bwrap passes on every fd it
// gets): close those that are not close-on-exec before anything else opens files.
// `doctor` runs probe sandboxes too.
if (process.argv[2] === 'serve' || process.argv[2] === 'doctor') {
  const closed = closeInheritedFds();
  if (closed > 0) process.stderr.write(`paddock: closed ${closed} inherited file descriptor(s) that were not close-on-exec\n`);
}

const program = new Command('paddock')
  .description('Run untrusted work in sandboxes behind an authenticated HTTP job API')
  .version(VERSION)
  .exitOverride()
  .showHelpAfterError();

serveCommand(program);
runCommand(program);
jobsCommand(program);
tokenCommand(program);
configCommand(program);
doctorCommand(program);
imageCommand(program);
sandboxCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Usage errors are exit 2; --help and --version are not errors.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err);
  }
}
