import type { ServerResponse } from 'node:http';
import { PaddockError } from '../../../errors.js';

/**
 * The Connect protocol's streaming framing (connectrpc.com/docs/protocol), JSON codec: each
 * message is `[flags u8][length u32 BE][JSON]`; flags 0x02 marks the end-of-stream message,
 * `{}` or `{"error": {code, message}}`. Unary calls are plain JSON bodies, errors a status + JSON.
 */
const END_STREAM = 0x02;
/** The one request message of a server-streaming call is small (a command and its env). */
export const MAX_REQUEST_MESSAGE = 1024 * 1024;

/** The request envelope's message, parsed; a body that is not one envelope is `invalid_argument`. */
export function readEnvelope(body: Buffer | undefined): unknown {
  if (!body || body.length < 5) throw new PaddockError('validation_failed', 'the body is not a Connect envelope');
  const length = body.readUInt32BE(1);
  if (body[0] !== 0) throw new PaddockError('validation_failed', 'compressed or unknown Connect envelope flags');
  if (length !== body.length - 5 || length > MAX_REQUEST_MESSAGE) throw new PaddockError('validation_failed', 'the Connect envelope length does not match the body');
  try {
    return JSON.parse(body.subarray(5).toString('utf8'));
  } catch {
    throw new PaddockError('validation_failed', 'the Connect message is not JSON');
  }
}

function envelope(flags: number, message: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** Connect's error codes for Paddock's (the SDK maps them to its own errors: not_found → NotFoundError …). */
export function connectCode(err: PaddockError): string {
  switch (err.code) {
    case 'not_found':
      return 'not_found';
    case 'validation_failed':
    case 'limit_exceeded':
    case 'limit_too_small':
      return 'invalid_argument';
    case 'unauthorized':
      return 'unauthenticated';
    case 'forbidden':
      return 'permission_denied';
    case 'conflict':
      return 'failed_precondition';
    case 'too_many_execs':
    case 'quota_exceeded':
      return 'resource_exhausted';
    case 'payload_too_large':
      return 'resource_exhausted';
    case 'shutting_down':
    case 'agent_died':
      return 'unavailable';
    default:
      return 'internal';
  }
}

/** HTTP statuses of Connect codes, for unary errors. */
export const CONNECT_STATUS: Record<string, number> = {
  not_found: 404,
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  failed_precondition: 412,
  resource_exhausted: 429,
  unavailable: 503,
  deadline_exceeded: 504,
  internal: 500,
};

/**
 * One server-streaming response on a hijacked reply: `send` writes a message and resolves once
 * the socket took it (the client's pace is the process's pace), `end` writes the end-of-stream.
 */
export class ConnectStream {
  private ended = false;
  readonly closed: Promise<void>;

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'application/connect+json', 'cache-control': 'no-store' });
    res.flushHeaders();
    this.closed = new Promise((resolve) => res.once('close', () => resolve()));
  }

  get open(): boolean {
    return !this.ended && !this.res.destroyed;
  }

  send(message: unknown): Promise<void> {
    if (!this.open) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.res.write(envelope(0, message))) resolve();
      else {
        const done = () => {
          this.res.off('drain', done);
          this.res.off('close', done);
          resolve();
        };
        this.res.once('drain', done).once('close', done);
      }
    });
  }

  end(error?: PaddockError): void {
    if (!this.open) return;
    this.ended = true;
    const trailer = error ? { error: { code: connectCode(error), message: error.message } } : {};
    this.res.end(envelope(END_STREAM, trailer));
  }
}
