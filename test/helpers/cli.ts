import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** The largest peak RSS (VmHWM, KiB) read while it ran. */
  peakRssKb: number;
}

/** The environment for a CLI process aimed at this runner; no PADDOCK_* of the caller leaks in. */
export function cliEnv(url: string, token: string): NodeJS.ProcessEnv {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PADDOCK_')));
  return { ...env, PADDOCK_URL: url, PADDOCK_TOKEN: token };
}

/**
 * Runs the built CLI (`node dist/cli/main.js …`) against a runner; `input` is
 * its stdin (closed at once without it). No PADDOCK_* of the caller leaks in.
 */
export async function runCli(
  args: string[],
  opts: { url: string; token: string; input?: Buffer | string; timeoutMs?: number } ,
): Promise<CliResult> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: cliEnv(opts.url, opts.token), stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => out.push(b));
  proc.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  proc.stdin.on('error', () => undefined); // the CLI may exit before it reads all of it
  proc.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  let peakRssKb = 0;
  const sampler = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      if (m) peakRssKb = Math.max(peakRssKb, Number(m[1]));
    } catch {
      // exited between samples
    }
  }, 25);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    proc.once('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  clearInterval(sampler);
  return { code, signal, stdout: Buffer.concat(out), stderr, peakRssKb };
}
