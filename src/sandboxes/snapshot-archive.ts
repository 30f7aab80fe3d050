import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { PaddockError } from '../errors.js';
import type { AgentClient } from '../sandbox/agent/agent-client.js';

/**
 * The writable part of a sandbox: every driver mounts the root read-only and gives the job
 * tmpfs dirs, so these hold everything a sandbox changed. Paddock's own internal dir is left out.
 */
const DIRS = ['./work', './tmp'];
const EXCLUDE = './tmp/.paddock';
/**
 * What is under those dirs, not the dirs themselves: a fresh sandbox's /work and /tmp keep their
 * own owner and mode (the job's user may not change /tmp's), so no restore has to touch them.
 */
const ARCHIVE_SCRIPT =
  `find ${DIRS.join(' ')} -mindepth 1 '(' -path ${EXCLUDE} -prune -o -print0 ')' | ` +
  'tar --numeric-owner --null --no-recursion -T - -cf -';
const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };
const STDERR_KEPT = 4096;

/**
 * Archives the sandbox's writable dirs into `file` (a tar made by the sandbox's own `tar`, inside
 * the sandbox: the host only stores the bytes, it never reads a path the job made). Past
 * `capBytes` the archive is cut off and `snapshot_too_large` thrown; nothing is left at `file`.
 */
export async function archiveSandbox(agent: AgentClient, file: string, capBytes: number, signal: AbortSignal): Promise<number> {
  const partial = `${file}.partial`;
  const out = createWriteStream(partial, { mode: 0o600 });
  let size = 0;
  let over = false;
  const stderr = tail();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > capBytes) {
        over ||= (handle.cancel(), true);
        return done();
      }
      out.write(chunk, done);
    },
  });
  const handle = agent.exec({ argv: ['/bin/sh', '-c', ARCHIVE_SCRIPT], env: ENV, cwd: '/' }, { stdout: sink, onStderr: stderr.push }, signal);
  try {
    const result = await handle.result;
    // The result comes once every chunk reached `sink`, not once `sink` wrote them all to the file:
    // ending it first waits for its queued writes (else they land after out.end: a cut archive).
    await finished(sink.end());
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (over) throw new PaddockError('snapshot_too_large', `the sandbox's files are more than ${capBytes} bytes (sandboxes.snapshot_max_mb)`, { max_bytes: capBytes });
    if (signal.aborted) throw new PaddockError('conflict', 'the sandbox ended while its snapshot was taken');
    failUnlessZero(result.exitCode, 'archive', stderr.text());
    await rename(partial, file);
    return size;
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  }
}

/** Unpacks an archive made by archiveSandbox into a fresh sandbox, with that sandbox's own `tar`. */
export async function restoreSandbox(agent: AgentClient, file: string, signal: AbortSignal): Promise<void> {
  const stderr = tail();
  const handle = agent.exec(
    { argv: ['tar', '--no-same-owner', '-xf', '-'], env: ENV, cwd: '/', stdin: true },
    { onStderr: stderr.push },
    signal,
  );
  const fed = pipeline(createReadStream(file), handle.stdin!).catch((err: Error) => err);
  const result = await handle.result;
  const feedError = await fed;
  failUnlessZero(result.exitCode, 'restore', stderr.text() || (feedError ? feedError.message : ''));
}

function failUnlessZero(code: number | null, what: 'archive' | 'restore', stderr: string): void {
  if (code === 0) return;
  const missing = code === 127 || /not found|no such file/i.test(stderr.split('\n')[0] ?? '');
  const why = missing && !stderr.includes('tar:') ? "the sandbox's image has no `tar`" : stderr.trim().split('\n').slice(-3).join('; ');
  throw new PaddockError('snapshot_failed', `could not ${what} the sandbox's files (tar exited ${code ?? 'on a signal'}): ${why || 'no message'}`);
}

/** The last few KiB of a stream, as text. */
function tail() {
  let kept = Buffer.alloc(0);
  return {
    push: (chunk: Buffer) => {
      kept = Buffer.concat([kept, chunk]);
      if (kept.length > STDERR_KEPT) kept = kept.subarray(kept.length - STDERR_KEPT);
    },
    text: () => kept.toString('utf8'),
  };
}
