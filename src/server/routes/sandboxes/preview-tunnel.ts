import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../../../errors.js';
import type { AgentClient } from '../../../sandbox/agent/agent-client.js';
import { PROBLEM_TYPE, problemOf } from '../../problem.js';
import { beforeAnswer, connectPort, IdleWatch, previewTimeout, relayed, upstreamRequest } from './preview-proxy.js';
import { downstreamHeaders, type PreviewTarget, switchingHead } from './preview-wire.js';

/** An HTTP Upgrade the server handed over: the client's socket and what it sent after the request head. */
export interface Upgrade {
  socket: Duplex;
  head: Buffer;
}

const upgrades = new WeakMap<IncomingMessage, Upgrade>();

export const upgradeOf = (req: IncomingMessage): Upgrade | undefined => upgrades.get(req);

const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

/**
 * Takes the HTTP server's Upgrade requests (WebSocket and any other protocol)
 * and routes them through Fastify like any request, as @fastify/websocket does:
 * a response bound to the raw socket, so hooks (lane, auth) and error answers
 * work unchanged; a plain answer ends the connection. The preview route takes
 * the socket over (`upgradeOf`). Node hands an Upgrade request's body to nobody,
 * so one with a body is refused here rather than left to hang.
 * Returns the open tunnels, which the caller closes when the server does.
 */
export function routeUpgrades(app: FastifyInstance): Set<Duplex> {
  const tunnels = new Set<Duplex>();
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    // destroySoon: once the answer is flushed, whether or not the client closes its side.
    res.once('finish', () => (socket as Duplex & { destroySoon(): void }).destroySoon());
    if (hasBody(req)) {
      const problem = problemOf(new PaddockError('validation_failed', 'an Upgrade request cannot carry a body'));
      res.writeHead(problem.status, { 'content-type': PROBLEM_TYPE }).end(JSON.stringify(problem));
      return;
    }
    upgrades.set(req, { socket, head });
    app.routing(req, res);
  });
  // preClose: the server's close waits for every socket, and a tunnel's socket is one.
  app.addHook('preClose', async () => {
    for (const t of tunnels) t.destroy();
  });
  return tunnels;
}

/**
 * An Upgrade into the sandbox: the request (credentials stripped) goes to the
 * target port over one agent connection; a `101` answer is relayed and from
 * then on bytes are piped both ways (with backpressure) until either side
 * closes, or nothing moves for `idleMs`. Any other answer is relayed as an
 * ordinary response. Resolves once the tunnel or response is over.
 */
export async function proxyUpgrade(
  agent: AgentClient,
  request: FastifyRequest,
  reply: FastifyReply,
  t: PreviewTarget,
  idleMs: number,
  upgrade: Upgrade,
  tunnels: Set<Duplex>,
): Promise<FastifyReply> {
  const up = await connectPort(agent, t);
  const upstream = upstreamRequest(up, request, t, true);
  upstream.end();
  const client = upgrade.socket;
  let tunneled = false;
  // Before an answer the client gets a 504; in a tunnel both ends are cut.
  const idle = new IdleWatch(idleMs, () => {
    upstream.destroy(previewTimeout(t, idleMs, 'sent nothing'));
    if (tunneled) client.destroy();
  });
  up.on('data', idle.bump);
  const over = new Promise<void>((resolve) => client.once('close', resolve));
  client.once('close', () => {
    idle.stop();
    up.destroy();
  });

  const answer = await new Promise<IncomingMessage | 'tunnel'>((resolve, reject) => {
    upstream.once('response', resolve);
    upstream.once('error', reject);
    // Wired up in the event itself: neither socket flows until piped, so no byte is lost.
    upstream.once('upgrade', (res: IncomingMessage, sock: Duplex, upHead: Buffer) => {
      tunneled = true;
      reply.hijack();
      reply.raw.detachSocket(client as never);
      tunnels.add(client);
      client.once('close', () => tunnels.delete(client));
      client.write(switchingHead(res, t));
      if (upHead.length) client.write(upHead);
      if (upgrade.head.length) sock.write(upgrade.head);
      client.on('data', idle.bump);
      sock.pipe(client);
      client.pipe(sock);
      sock.once('close', () => client.destroy());
      resolve('tunnel');
    });
  }).catch((err: unknown) => {
    idle.stop();
    up.destroy();
    throw beforeAnswer(err, t);
  });

  if (answer !== 'tunnel') {
    // Not upgraded: relay the answer; the connection ends after it (see routeUpgrades).
    answer.once('end', () => idle.stop());
    const sent = new Promise<void>((resolve) => {
      reply.raw.once('finish', resolve);
      reply.raw.once('close', resolve);
    });
    const status = answer.statusCode ?? 0;
    if (status < 200 || status > 599) {
      up.destroy();
      throw beforeAnswer(new Error(`status ${status}`), t);
    }
    reply.code(status).headers(downstreamHeaders(answer, t));
    reply.send(relayed(answer, reply, t));
    await Promise.race([sent, over]);
    up.destroy();
    return reply;
  }
  await over;
  return reply;
}
