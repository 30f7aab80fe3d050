import { spawn } from 'node:child_process';
import { PaddockError } from '../errors.js';
import type { BuildPhase, Reporter } from './progress.js';

export interface LoggedRun {
  image: string;
  /** Names the step in progress and in the error, e.g. `apt-get install`. */
  step: string;
  phase: BuildPhase;
  report: Reporter;
  env?: NodeJS.ProcessEnv;
}

const TAIL_LINES = 25;

// Lines that are noise at the pace a build prints them (dpkg prints its database
// scan in 5% steps for every package); the error tail still keeps them.
const QUIET = [/^\(Reading database \.\.\./, /^\s*$/];

/**
 * Runs one build command with stdin closed, turns each output line into progress,
 * and on failure throws `image_build_failed` naming the step, with the last lines
 * of its output in the message — the only place a failed debootstrap or apt run
 * explains itself.
 */
export function runLogged(argv: string[], opts: LoggedRun): Promise<void> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (!QUIET.some((q) => q.test(line))) opts.report(opts.phase, line);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffered += chunk;
        // apt and wget redraw progress with \r; each redraw counts as a line.
        const lines = buffered.split(/\r\n|\r|\n/);
        buffered = lines.pop() ?? '';
        for (const line of lines) onLine(line.trimEnd());
      });
      stream.on('end', () => {
        if (buffered) onLine(buffered.trimEnd());
        buffered = '';
      });
    }
    child.on('error', (err) => {
      reject(
        new PaddockError('image_build_failed', `image ${opts.image}: ${opts.step}: cannot run ${cmd}: ${err.message}`, {
          image: opts.image,
          step: opts.step,
        }),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const shown = tail.filter((l) => l.trim() !== '');
      reject(
        new PaddockError(
          'image_build_failed',
          `image ${opts.image}: ${opts.step} ${how}; last output:\n${shown.map((l) => `  ${l}`).join('\n')}`,
          { image: opts.image, step: opts.step, exit_code: code, signal, tail: shown },
        ),
      );
    });
  });
}

/** Runs a command and returns its stdout, for short queries (du, mount checks) that are not build steps. */
export function capture(argv: string[]): Promise<string> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited with ${code}: ${err.trim()}`)),
    );
  });
}
