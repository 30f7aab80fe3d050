import { type IncomingMessage, request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../../../errors.js';
import type { AgentClient } from '../../../sandbox/agent/agent-client.js';
import { AgentError } from '../../../sandbox/agent/errors.js';
import { lingerAfterAnswer } from '../../../util/linger.js';
import { downstreamHeaders, type PreviewTarget, upstreamHeaders } from './preview-wire.js';

/** Connecting to loopback inside answers at once (connected or refused); this only bounds a full listen backlog. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Calls `onIdle` once no bump came for `ms`. */
export class IdleWatch {
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number, onIdle: () => void) {
    this.timer = setTimeout(onIdle, ms);
    this.timer.unref();
  }

  readonly bump = (): void => {
    this.timer.refresh();
  };

  stop(): void {
    clearTimeout(this.timer);
  }
}

export const previewTimeout = (t: PreviewTarget, ms: number, what: string) =>
  new PaddockError('preview_timeout', `the server on port ${t.port} in sandbox ${t.id} ${what} within ${ms} ms`, { port: t.port });

/**
 * One agent connection to the target port: `502 preview_unreachable` when
 * nobody listens there, `504 preview_timeout` when connecting hangs (a late
 * connection is closed when it comes).
 */
export async function connectPort(agent: AgentClient, t: PreviewTarget): Promise<Duplex> {
  const pending = agent.connect(t.port);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(previewTimeout(t, CONNECT_TIMEOUT_MS, 'did not accept the connection')), CONNECT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([pending, timeout]);
  } catch (err) {
    pending.then((s) => s.destroy(), () => undefined);
    if (err instanceof AgentError && err.agentCode === 'refused') {
      throw new PaddockError(
        'preview_unreachable',
        `nothing listens on port ${t.port} in sandbox ${t.id} (connecting to 127.0.0.1:${t.port} inside was refused)`,
        { port: t.port },
      );
    }
    if (err instanceof AgentError && err.agentCode === 'too_many') {
      throw new PaddockError('too_many_streams', `sandbox ${t.id} has as many agent connections open as it can (execs, files and previews)`, {
        retry_after_s: 1,
      });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const unreachable = (t: PreviewTarget, what: string) =>
  new PaddockError('preview_unreachable', `the server on port ${t.port} in sandbox ${t.id} ${what}`, { port: t.port });

/** What failing before any answer means for the client: our timeout, the agent's own error, or a hang-up. */
export function beforeAnswer(err: unknown, t: PreviewTarget): PaddockError {
  if (err instanceof PaddockError) return err;
  return unreachable(t, `closed the connection without answering (${(err as Error).message})`);
}

/** An upstream request over the agent's connection (no keep-alive: one connection per request). */
export function upstreamRequest(socket: Duplex, request: FastifyRequest, t: PreviewTarget, upgrade: boolean) {
  const req = httpRequest({
    method: request.method,
    path: t.path,
    headers: upstreamHeaders(request.raw, t, upgrade),
    // The http client takes any Duplex as its connection; it only calls Socket methods that exist.
    createConnection: () => socket as Socket,
  });
  // Callers wait for the first error themselves; a later one (a destroy after the answer) must not go unheard.
  req.on('error', () => undefined);
  return req;
}

/**
 * Proxies one HTTP request to the target port: the body streams in as the
 * client sends it and the answer streams out at the client's pace (the agent's
 * flow control holds the server back meanwhile). No bytes either way for
 * `idleMs`: before the answer `504 preview_timeout`, after it the client's
 * connection is cut, as it is when the server breaks off mid-answer. Resolves
 * when the client's response is over.
 */
export async function proxyHttp(
  agent: AgentClient,
  request: FastifyRequest,
  reply: FastifyReply,
  t: PreviewTarget,
  idleMs: number,
): Promise<FastifyReply> {
  const socket = await connectPort(agent, t);
  const upstream = upstreamRequest(socket, request, t, false);
  const idle = new IdleWatch(idleMs, () => upstream.destroy(previewTimeout(t, idleMs, 'sent nothing')));
  const closed = new Promise<void>((resolve) =>
    reply.raw.once('close', () => {
      idle.stop();
      upstream.destroy();
      socket.destroy();
      resolve();
    }),
  );
  // pipe() first: a second 'data' listener added in the same tick loses nothing.
  request.raw.pipe(upstream);
  request.raw.on('data', idle.bump);
  socket.on('data', idle.bump);

  let res: IncomingMessage;
  try {
    res = await new Promise<IncomingMessage>((resolve, reject) => {
      upstream.once('response', resolve);
      upstream.once('error', reject);
    });
  } catch (err) {
    idle.stop();
    socket.destroy();
    // What the client still sends is read and dropped after the problem.
    lingerAfterAnswer(request.raw, reply.raw);
    throw beforeAnswer(err, t);
  }
  res.once('end', () => idle.stop());
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw unreachable(t, `answered with status ${status}`);
  }
  reply.code(status).headers(downstreamHeaders(res, t));
  reply.send(relayed(res, reply, t));
  await closed;
  return reply;
}

/**
 * The answer's body for reply.send: a break before any of it went out is
 * `502 preview_unreachable`; after that the client's connection just ends (a
 * premature close, which Fastify does not log as an error: the sandbox's code
 * could fill the log).
 */
export function relayed(res: IncomingMessage, reply: FastifyReply, t: PreviewTarget): PassThrough {
  const body = new PassThrough();
  res.once('error', () => {
    if (reply.raw.headersSent) body.destroy();
    else body.destroy(unreachable(t, 'broke off its answer'));
  });
  return res.pipe(body);
}
