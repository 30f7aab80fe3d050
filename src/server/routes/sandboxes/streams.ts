import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Runtime } from '../../../runtime.js';
import { connectionBudget } from '../../fd-budget.js';
import { StreamGate } from '../../stream-gate.js';

/** U+2028/U+2029 are legal JSON but split lines in many SSE readers: escaped, as for job events. */
export const sseData = (data: unknown): string =>
  JSON.stringify(data).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

export const sseFrame = (id: number, event: string, data: unknown): string => `id: ${id}\nevent: ${event}\ndata: ${sseData(data)}\n\n`;

/**
 * Places for sandbox SSE streams (exec output, sandbox events): a runner-wide
 * gate of its own, sized as the job streams' one, plus the token's
 * `quotas.max_streams` shared with job streams.
 */
export class SandboxStreams {
  readonly gate: StreamGate;
  readonly bufferBytes: number;

  constructor(private readonly rt: Runtime) {
    const budget = connectionBudget(rt.config);
    this.gate = new StreamGate(budget.maxStreams);
    this.bufferBytes = budget.streamBufferBytes;
  }

  /**
   * A stream that ends because the runner stops takes its connection with it: the
   * server is closing already and would otherwise wait for the client to drop an
   * idle keep-alive connection (seconds).
   */
  endsConnection(res: ServerResponse): void {
    if (!this.rt.sandboxes.isStopping) return;
    // Taken now: a finished response lets go of its socket.
    const socket = res.socket;
    res.once('finish', () => socket?.destroySoon());
  }

  /** Takes both places (or throws 429); the release gives both back, once. */
  enter(request: FastifyRequest): () => void {
    const releaseRunner = this.gate.enter();
    try {
      const releaseToken = this.rt.admission.openStream(request.principal);
      return () => {
        releaseToken();
        releaseRunner();
      };
    } catch (err) {
      releaseRunner();
      throw err;
    }
  }
}
