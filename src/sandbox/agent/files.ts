import type { Readable } from 'node:stream';
import { ChannelReadable } from './channel-streams.js';
import { Channel } from './protocol.js';
import { checkInt, checkPath } from './requests.js';
import type { AgentSession } from './session.js';

export interface WriteFileOptions {
  /** Permission bits; the agent's default is 0644. */
  mode?: number;
  mkdirs?: boolean;
  append?: boolean;
  signal?: AbortSignal;
}

/**
 * Uploads `content` to `path` (the agent renames a temporary file over it at EOF, so a failed
 * upload leaves nothing). A Readable source is read as the agent's window allows; when the upload
 * fails it is destroyed. Resolves with the size the agent wrote.
 */
export async function writeFile(
  session: AgentSession,
  path: string,
  content: Readable | Uint8Array | string,
  opts: WriteFileOptions = {},
): Promise<{ size: number }> {
  const body: Record<string, unknown> = { path: checkPath('path', path) };
  if (opts.mode !== undefined) body.mode = checkInt('mode', opts.mode, 0, 0o7777);
  if (opts.mkdirs) body.mkdirs = true;
  if (opts.append) body.append = true;
  const op = session.open('write', body);
  const onAbort = () => op.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) op.cancel();
  try {
    const upload = (async () => {
      if (typeof content === 'string' || content instanceof Uint8Array) {
        if (await op.write(typeof content === 'string' ? Buffer.from(content) : content)) op.endInput();
        return;
      }
      // An ERROR may come while the source is idle: do not leave it waiting for its next chunk.
      op.done.catch(() => content.destroy());
      try {
        for await (const chunk of content) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
          // The agent ended the stream (an ERROR): stop reading, the ERROR is the answer.
          if (!(await op.write(bytes))) return;
        }
        op.endInput();
      } catch (err) {
        // The source failed: cancel, so the agent drops the temporary file.
        op.cancel();
        throw err;
      }
    })();
    const [, result] = await Promise.all([upload, op.done]);
    return { size: (result as { size: number }).size };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

export interface ReadFileResult {
  /** The file's size and mode when the read began. */
  size: number;
  mode: number;
  /** The bytes; errors with the agent's (or the connection's) error; destroying it cancels the read. */
  stream: Readable;
}

/**
 * Resolves once the agent began the read. The stream's total is checked against the agent's
 * RESULT {size}: a mismatch is a protocol error, seen as an error on the stream.
 */
export async function readFile(
  session: AgentSession,
  path: string,
  opts: { offset?: number; length?: number } = {},
): Promise<ReadFileResult> {
  const body: Record<string, unknown> = { path: checkPath('path', path) };
  if (opts.offset !== undefined) body.offset = checkInt('offset', opts.offset, 0, Number.MAX_SAFE_INTEGER);
  if (opts.length !== undefined) body.length = checkInt('length', opts.length, 0, Number.MAX_SAFE_INTEGER);
  const op = session.open('read', body);
  const stream = new ChannelReadable(op, Channel.OUT, () => op.cancel());
  op.checkResult = (r) => {
    const { size } = r as { size: number };
    return size === stream.receivedBytes ? null : `read RESULT says ${size} bytes, ${stream.receivedBytes} came`;
  };
  const started = (await op.started) as { size: number; mode: number };
  return { size: started.size, mode: started.mode, stream };
}
