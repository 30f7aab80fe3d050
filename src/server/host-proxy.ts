import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../errors.js';
import type { SandboxOwners } from '../fleet/sandbox-owner.js';
import type { Logger } from '../util/log.js';
import { PROBLEM_TYPE, problemOf } from './problem.js';
import { SANDBOX_ID_RE } from './routes/sandboxes/preview-host.js';
import { upgradeOf } from './routes/sandboxes/preview-tunnel.js';
import { endToEndHeaders } from './routes/sandboxes/preview-wire.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Creates a sandbox: on a host others cannot reach, forwarded to one they can (SandboxOwners.placeNew). */
    sandboxCreate?: boolean;
  }
}

/** Set on a forwarded request: the receiving host answers it itself, whatever it finds (one hop, no loops). */
export const FORWARDED_BY = 'x-paddock-forwarded-by';
/** An owner that does not accept the connection this fast is taken as unreachable. */
const CONNECT_TIMEOUT_MS = 5000;

/** Parameters that name a sandbox in the native and compat routes; E2B's envd routes name it in a header. */
const ID_PARAMS = ['id', 'sandboxID', 'sandboxId', 'idOrName'];

function sandboxIdOf(request: FastifyRequest): string | undefined {
  const params = (request.params ?? {}) as Record<string, unknown>;
  for (const key of ID_PARAMS) {
    const v = params[key];
    if (typeof v === 'string' && SANDBOX_ID_RE.test(v)) return v;
  }
  const header = request.headers['e2b-sandbox-id'];
  return typeof header === 'string' && SANDBOX_ID_RE.test(header) ? header : undefined;
}

/**
 * A fleet's sandboxes live on one host each; any host serves their API. A request for a sandbox
 * held elsewhere is forwarded to its owner's advertised address as it came — credentials, body
 * stream, event streams, upgrades (WebSockets) — and the answer relayed back, so the owner does
 * the auth and everything else. Runs after the lane and auth hooks: an unauthenticated request
 * is refused here and never reaches the owner.
 */
export interface HostProxyDeps {
  owners: SandboxOwners;
  hostId: string;
  log: Logger;
  /** The id of the sandbox a request names by another name (Daytona's `:id` may be a sandbox's name), if any. */
  byName?: ((request: FastifyRequest) => Promise<string | undefined>) | undefined;
}

export function installHostProxy(app: FastifyInstance, deps: HostProxyDeps): void {
  const agent = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };
  const tunnels = new Set<Duplex>();
  app.addHook('preClose', async () => {
    for (const t of tunnels) t.destroy();
    agent.http.destroy();
    agent.https.destroy();
  });
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers[FORWARDED_BY] !== undefined) return;
    const id = request.routeOptions.config.sandboxCreate ? undefined : (sandboxIdOf(request) ?? (await deps.byName?.(request)));
    const base = request.routeOptions.config.sandboxCreate ? await deps.owners.placeNew() : id && (await deps.owners.ownerOf(id));
    if (!base) return;
    forward(request, reply, base, { ...deps, agent, tunnels, id });
    return reply;
  });
}

interface ForwardDeps {
  owners: SandboxOwners;
  hostId: string;
  log: Logger;
  agent: { http: http.Agent; https: https.Agent };
  tunnels: Set<Duplex>;
  id: string | undefined;
}

function forward(request: FastifyRequest, reply: FastifyReply, base: string, d: ForwardDeps): void {
  reply.hijack();
  const upgrade = upgradeOf(request.raw);
  const url = new URL(base.replace(/\/+$/, '') + request.url);
  const headers: OutgoingHttpHeaders = endToEndHeaders(request.raw.rawHeaders, upgrade !== undefined);
  delete headers.host;
  headers[FORWARDED_BY] = d.hostId;
  const addr = request.raw.socket.remoteAddress ?? '';
  const xff = request.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${addr}` : addr;
  const https_ = url.protocol === 'https:';
  const up = (https_ ? https : http).request(url, {
    method: request.method,
    headers,
    // An upgraded connection is the tunnel's own, never pooled.
    agent: upgrade ? false : https_ ? d.agent.https : d.agent.http,
  });
  const res = reply.raw;
  const fail = (err: Error) => {
    if (d.id) d.owners.forget(d.id);
    d.log.warn({ err: err.message, to: url.origin, sandboxId: d.id }, 'forwarding to the owning host failed');
    if (res.headersSent || res.destroyed) return void res.destroy();
    const problem = problemOf(
      new PaddockError('unreachable', `the host that holds this sandbox (${url.origin}) did not answer: ${err.message}`, { retry_after_s: 1 }),
    );
    res.writeHead(problem.status, { 'content-type': PROBLEM_TYPE, 'retry-after': '1' }).end(JSON.stringify(problem));
  };
  up.once('socket', (sock) => {
    if (!sock.connecting) return;
    const timer = setTimeout(() => up.destroy(new Error(`no connection in ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    sock.once('connect', () => clearTimeout(timer));
    sock.once('close', () => clearTimeout(timer));
  });
  up.once('error', fail);
  up.once('response', (answer: IncomingMessage) => {
    res.writeHead(answer.statusCode ?? 502, endToEndHeaders(answer.rawHeaders, false));
    answer.pipe(res);
    answer.once('aborted', () => res.destroy());
  });
  let tunneled = false;
  // The client went away: so does the forwarded request (an event stream upstream ends with it).
  res.once('close', () => {
    if (!res.writableFinished && !tunneled) up.destroy();
  });
  if (!upgrade) {
    request.raw.pipe(up);
    return;
  }
  up.end();
  up.once('upgrade', (answer: IncomingMessage, sock: Duplex, head: Buffer) => {
    const client = upgrade.socket;
    tunneled = true;
    res.detachSocket(client as never);
    d.tunnels.add(client);
    let out = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (const [name, value] of Object.entries(endToEndHeaders(answer.rawHeaders, true))) {
      for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${v}\r\n`;
    }
    client.write(`${out}\r\n`);
    if (head.length) client.write(head);
    if (upgrade.head.length) sock.write(upgrade.head);
    sock.pipe(client);
    client.pipe(sock);
    sock.once('close', () => client.destroy());
    sock.once('error', () => client.destroy());
    client.once('close', () => {
      d.tunnels.delete(client);
      sock.destroy();
    });
  });
}
