import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { isTerminal } from '../../jobs/states.js';
import type { Runtime } from '../../runtime.js';
import type { StoredEvent } from '../../store/store.js';
import { ProblemView } from './schemas.js';

const KEEPALIVE_MS = 15_000;

/**
 * `GET /v1/jobs/:id/events`: Server-Sent Events for one job — `state` changes
 * and `stdout`/`stderr` chunks, each with its seq as the SSE id. Replays from
 * the store after `Last-Event-ID`, then follows live; closes after the end state.
 */
export function eventRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/jobs/:id/events',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: 'Stream a job’s events (Server-Sent Events)',
        description: 'Event types: `state` ({state, reason?}), `stdout` and `stderr` ({data}). Resume with `Last-Event-ID`.',
        tags: ['jobs'],
        params: z.object({ id: z.string().min(1).max(100) }),
        querystring: z.strictObject({
          after: z.coerce.number().int().min(0).optional(),
          /** false: send what is stored so far, then close (for `paddock jobs logs` without -f). */
          follow: z.enum(['true', 'false']).default('true'),
        }),
        headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }),
        response: { 200: z.string().describe('text/event-stream'), 401: ProblemView, 404: ProblemView },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await rt.store.getJob(id))) throw new PaddockError('not_found', `no job ${id}`);
      let last = Number(request.headers['last-event-id'] ?? request.query.after ?? 0);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();

      let closed = false;
      let replaying = true;
      const backlog: StoredEvent[] = [];
      const finish = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(keepalive);
        rt.scheduler.stopSignal.removeEventListener('abort', finish);
        res.end();
      };
      const send = (e: StoredEvent) => {
        if (closed || e.seq <= last) return;
        last = e.seq;
        res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
        if (e.type === 'state' && isTerminal((e.data as { state: string }).state)) finish();
      };
      // Subscribe before replaying so nothing published meanwhile is lost; seq dedupes.
      const unsubscribe = rt.bus.subscribe(id, (e) => (replaying ? backlog.push(e) : send(e)));
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      res.on('close', finish);
      // A stopping runner ends its streams; clients resume with Last-Event-ID.
      rt.scheduler.stopSignal.addEventListener('abort', finish, { once: true });

      for (;;) {
        const page = await rt.store.listEvents(id, last);
        page.forEach(send);
        if (page.length < 1000 || closed) break;
      }
      replaying = false;
      backlog.forEach(send);
      // Resuming after the end state: nothing more will come, so close (after anything stored meanwhile).
      const current = await rt.store.getJob(id);
      if (request.query.follow === 'false' || !current || isTerminal(current.state)) {
        (await rt.store.listEvents(id, last)).forEach(send);
        finish();
      }
    },
  );
}
