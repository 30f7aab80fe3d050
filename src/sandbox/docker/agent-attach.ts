import { type Duplex, PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../util/log.js';
import type { AgentTransport } from '../agent/session.js';
import { lineLogger } from '../agent-diagnostics.js';
import { demuxer } from './demux.js';

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
