import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../../runtime.js';
import type { SandboxEvent } from '../../../sandboxes/events.js';
import { SseWriter } from '../../event-stream.js';
import { ProblemView } from '../schemas.js';
import { type SandboxStreams, sseFrame } from './streams.js';
import { SandboxParams } from './view.js';

const frame = (e: SandboxEvent) => sseFrame(e.seq, e.type, { ...e.data, at: e.at });

/**
 * `GET /v1/sandboxes/:id/events`: the sandbox's lifecycle as SSE, from the
 * recent events the runner keeps (after `Last-Event-ID`), then live; the stream
 * ends after `destroyed`. Events are small and few, so the SSE buffer cap alone bounds a slow reader.
 */
export function sandboxEventRoutes(app: FastifyInstance, rt: Runtime, streams: SandboxStreams): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/sandboxes/:id/events',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'Stream a sandbox’s events (Server-Sent Events)',
        description:
          'Event types: `created`, `exec_started`, `exec_ended`, `paused`, `resumed`, `expired`, `destroyed`. ' +
          'Kept in memory only (the last 256 per sandbox); resume with `Last-Event-ID`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }),
        response: { 200: z.string().describe('text/event-stream'), 401: ProblemView, 404: ProblemView, 429: ProblemView },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await rt.sandboxes.get(id, request.principal);
      const release = streams.enter(request);
      reply.hijack();
      const out = new SseWriter(reply.raw, streams.bufferBytes, rt.config.http.stall_ms, () => undefined);
      const end = () => {
        streams.endsConnection(reply.raw);
        out.end();
      };
      const send = (e: SandboxEvent) => {
        out.write(frame(e));
        if (e.type === 'destroyed') end();
      };
      const followed = rt.sandboxes.events.follow(id, Number(request.headers['last-event-id'] ?? 0), send);
      reply.raw.once('close', () => {
        followed.stop();
        release();
      });
      for (const e of followed.past) send(e);
      if (followed.ended) end();
    },
  );
}
