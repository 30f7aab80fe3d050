import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Price } from '../../config/agents.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { ModelAuth } from '../model-auth.js';
import type { AgentBudget } from '../spec.js';
import { type ApiError, sendApiError } from './answer.js';
import { budgetSpent } from './budget.js';
import { forward, type Upstream } from './forward.js';
import { lingerAfterAnswer } from '../../util/linger.js';
import { redactText } from '../redact.js';
import { emptyUsage, ResponseMeter, type Usage } from './usage.js';

/** Connections one sandbox may hold open at once (the CLI uses one or two). */
export const MAX_CONNECTIONS = 16;
/**
 * A connection with no request in flight is closed after this long. It also bounds a client
 * that dribbles its headers: Node's own header and request timers only run on a listening
 * server, and this one never listens.
 */
export const IDLE_MS = 300_000;
const QUERY_RE = /^[A-Za-z0-9._~%&=+,:-]{0,2048}$/;

export interface ProxySession {
  /** Serves HTTP/1.1 on one connection accepted inside the sandbox. */
  handle(socket: Duplex): void;
  readonly usage: Usage;
  /** Resolves once, with the reason, when a request was refused because the budget is spent. */
  readonly overBudget: Promise<string>;
  /** The last error the sandbox was answered with (upstream's or the proxy's own). */
  readonly lastError: ApiError | null;
  /** Ends every open connection and upstream request of the session. */
  close(): void;
}

export interface SessionDeps {
  jobId: string;
  budget: AgentBudget | undefined;
  upstream: Upstream;
  auth: () => ModelAuth;
  prices: Record<string, Price>;
  timeoutMs: number;
  log: Logger;
  /** Called on each request and each chunk of an answer: model traffic is the job's activity too. */
  onActivity?: () => void;
  onClose(): void;
}

export class ModelProxySession implements ProxySession {
  readonly overBudget: Promise<string>;
  private resolveOver!: (reason: string) => void;
  private over = false;
  private error: ApiError | null = null;
  private readonly totals = emptyUsage();
  private readonly server: http.Server;
  private readonly conns = new Map<Duplex, { active: number; timer: NodeJS.Timeout | undefined }>();
  private readonly inflight = new Set<ClientRequest>();
  private closed = false;

  constructor(private readonly deps: SessionDeps) {
    this.overBudget = new Promise((resolve) => (this.resolveOver = resolve));
    this.server = http.createServer({ keepAliveTimeout: IDLE_MS }, (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      socket.destroy();
    });
  }

  get usage(): Usage {
    return { ...this.totals };
  }

  get lastError(): ApiError | null {
    return this.error;
  }

  handle(socket: Duplex): void {
    socket.on('error', () => {});
    if (this.closed || this.conns.size >= MAX_CONNECTIONS) {
      if (!this.closed) this.deps.log.warn({ max: MAX_CONNECTIONS }, 'model proxy: too many connections from the sandbox');
      socket.destroy();
      return;
    }
    const conn = { active: 0, timer: undefined as NodeJS.Timeout | undefined };
    this.conns.set(socket, conn);
    this.arm(socket, conn);
    socket.on('close', () => {
      clearTimeout(conn.timer);
      this.conns.delete(socket);
    });
    this.server.emit('connection', socket);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const up of this.inflight) up.destroy();
    for (const [socket, conn] of this.conns) {
      clearTimeout(conn.timer);
      socket.destroy();
    }
    this.conns.clear();
    this.deps.onClose();
  }

  private arm(socket: Duplex, conn: { active: number; timer: NodeJS.Timeout | undefined }): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => socket.destroy(), IDLE_MS);
    conn.timer.unref();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.deps.onActivity?.();
    const socket = req.socket as Duplex;
    const conn = this.conns.get(socket);
    if (conn) {
      conn.active++;
      clearTimeout(conn.timer);
      res.on('close', () => {
        if (--conn.active === 0 && this.conns.has(socket)) this.arm(socket, conn);
      });
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q);
    if ((req.method === 'HEAD' || req.method === 'GET') && pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 0 }).end();
      return;
    }
    const known = req.method === 'POST' && (pathname === '/v1/messages' || pathname === '/v1/messages/count_tokens');
    if (!known || !QUERY_RE.test(query.slice(1))) {
      lingerAfterAnswer(req, res);
      sendApiError(res, { status: 404, type: 'not_found_error', message: 'Paddock: only the Messages API is reachable from the sandbox' }, false);
      return;
    }
    const counted = pathname === '/v1/messages';
    if (counted) {
      const spent = budgetSpent(this.totals, this.deps.budget);
      if (spent !== null) {
        this.refuse(req, res, spent);
        return;
      }
      // Counted before it is sent, so concurrent requests cannot pass max_requests together.
      this.totals.requests++;
    }
    this.send(req, res, pathname + query, counted).catch((err: unknown) => {
      this.deps.log.error({ error: String((err as Error)?.message ?? err) }, 'model proxy: request failed');
      res.destroy();
    });
  }

  /**
   * 400, not 429: the CLI's SDK retries a 429 (with backoff, CLAUDE_CODE_MAX_RETRIES times) and
   * a budget does not come back, while a 400 ends the CLI's turn at once with `is_error: true`
   * and the message in its result. `x-should-retry: false` makes the SDK certain of it.
   */
  private refuse(req: IncomingMessage, res: ServerResponse, reason: string): void {
    if (!this.over) {
      this.over = true;
      this.deps.log.info({ reason }, 'model proxy: budget exceeded');
      this.resolveOver(reason);
    }
    // The body is not wanted; read and dropped after the answer, so the CLI reads the 400, not a reset.
    lingerAfterAnswer(req, res);
    sendApiError(res, { status: 400, type: 'invalid_request_error', message: `Paddock: budget exceeded: ${reason}` }, false);
  }

  private async send(req: IncomingMessage, res: ServerResponse, pathAndQuery: string, counted: boolean): Promise<void> {
    let authHeaders: Record<string, string>;
    let secrets: string[] = [];
    try {
      const auth = this.deps.auth();
      // Headers first: a token refreshed inside headers() must be among the secrets redacted.
      authHeaders = await auth.headers();
      secrets = auth.secrets();
    } catch (err) {
      try {
        secrets = this.deps.auth().secrets();
      } catch {
        // nothing more to redact with
      }
      const message = err instanceof PaddockError ? err.message : 'the model API credential could not be read';
      const e = { status: 401, type: 'authentication_error', message: `Paddock: ${redactText(message, secrets)}` };
      this.error = e;
      if (counted) this.totals.requests--;
      this.deps.log.warn({ error: e.message }, 'model proxy: no usable credential');
      lingerAfterAnswer(req, res);
      sendApiError(res, e, false);
      return;
    }
    if (this.closed || res.destroyed) return;
    const fail = (e: ApiError) => (this.error = { status: e.status, type: e.type, message: redactText(e.message, secrets) });
    try {
      this.forward(req, res, pathAndQuery, counted, authHeaders, secrets, fail);
    } catch (err) {
      // e.g. an auth header Node refuses to send; the request must not take the runner down.
      const e = { status: 502, type: 'api_error', message: 'Paddock: the request to the model API could not be made' };
      fail(e);
      this.deps.log.error({ error: redactText(String((err as Error)?.message ?? err), secrets) }, 'model proxy: forwarding failed');
      sendApiError(res, e);
    }
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    pathAndQuery: string,
    counted: boolean,
    authHeaders: Record<string, string>,
    secrets: string[],
    fail: (e: ApiError) => void,
  ): void {
    forward(req, res, pathAndQuery, {
      upstream: this.deps.upstream,
      timeoutMs: this.deps.timeoutMs,
      authHeaders,
      secrets,
      meter: counted ? new ResponseMeter(this.totals, this.deps.prices) : null,
      fail,
      track: (up) => {
        this.inflight.add(up);
        return () => this.inflight.delete(up);
      },
      ...(this.deps.onActivity ? { activity: this.deps.onActivity } : {}),
      log: this.deps.log,
    });
  }
}
