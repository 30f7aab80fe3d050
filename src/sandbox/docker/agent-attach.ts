import { type Duplex, PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../util/log.js';
import type { AgentTransport } from '../agent/session.js';
import { demuxer } from './demux.js';

/** The agent's stderr is logged up to this much per container; it runs next to the job, so it is bounded. */
const DIAGNOSTICS_BYTES = 2048;
const DIAGNOSTICS_LINES = 12;
const LINE_BYTES = 512;

/** Who a container serves, for its log lines (a pooled one learns its sandbox when it is taken). */
export interface LogContext {
  containerId: string;
  sandboxId?: string;
}

/**
 * Attaches to a created, not yet started container, as `docker run` does: the
 * agent says HELLO as soon as it runs and Docker keeps no log, so an attach made
 * after the start could miss bytes. The hijacked connection is the agent's
 * channel: runner → agent is the container's stdin; agent → runner is the stdout
 * channel of Docker's multiplexed stream; its stderr channel carries the agent's
 * diagnostics, logged (bounded) with the container and sandbox ids.
 */
export async function attachAgent(container: Dockerode.Container, log: Logger, ctx: LogContext): Promise<AgentTransport> {
  const socket = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  const readable = new PassThrough();
  const diagnostics = lineLogger((line) => log.warn({ ...ctx, agent: line }, 'sandbox agent says'));
  const push = demuxer((name, payload) => (name === 'stdout' ? readable.write(payload) : diagnostics(payload)));
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    readable.end();
  };
  socket.on('data', push);
  socket.once('end', end);
  socket.once('close', end);
  socket.once('error', (err) => readable.destroy(err));
  return { readable, writable: socket };
}

/**
 * Splits bytes into lines (each cut at LINE_BYTES) and passes on the first DIAGNOSTICS_LINES of
 * them, from at most DIAGNOSTICS_BYTES (a Go runtime crash prints a long trace; its head says why).
 */
export function lineLogger(emit: (line: string) => void): (chunk: Buffer) => void {
  let bytes = DIAGNOSTICS_BYTES;
  let lines = DIAGNOSTICS_LINES;
  let partial = '';
  return (chunk) => {
    if (bytes <= 0 || lines <= 0) return;
    const text = partial + chunk.subarray(0, bytes).toString('utf8');
    bytes -= Math.min(chunk.length, bytes);
    const split = text.split('\n');
    partial = split.pop()!.slice(0, LINE_BYTES);
    for (const line of split) {
      if (!line) continue;
      if (lines-- <= 0) break;
      emit(line.slice(0, LINE_BYTES));
    }
    if (bytes <= 0 || lines <= 0) emit('[further agent diagnostics dropped]');
  };
}
