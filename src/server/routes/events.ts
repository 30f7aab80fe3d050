import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { isTerminal } from '../../jobs/states.js';
import { getOwnJob } from '../../auth/ownership.js';
import type { Runtime } from '../../runtime.js';
import type { StoredEvent } from '../../store/store.js';
import { SseWriter } from '../event-stream.js';
import { connectionBudget } from '../fd-budget.js';
import { StreamGate } from '../stream-gate.js';
import { ProblemView } from './schemas.js';

/**
 * Events read from the store at a time while replaying. Small, so a replay
 * holds little more than what its socket takes (an event is ≤ 64 KiB of text).
 */
const REPLAY_PAGE = 16;

/** One live event goes to every stream of its job as the same object: encode it once for all of them. */
const frames = new WeakMap<StoredEvent, string>();
function frameOf(e: StoredEvent): string {
  let frame = frames.get(e);
  if (frame === undefined) {
    // U+2028/U+2029 are legal in JSON and SSE, but many line readers split on them: escape them too.
    const data = JSON.stringify(e.data).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
    frame = `id: ${e.seq}\nevent: ${e.type}\ndata: ${data}\n\n`;
    frames.set(e, frame);
  }
  return frame;
}

/**
 * `GET /v1/jobs/:id/events`: Server-Sent Events for one job — `state` changes
 * and `stdout`/`stderr` chunks, each with its seq as the SSE id. Replays from
 * the store after `Last-Event-ID`, then follows live; closes after the end state.
 * Streams are capped (runner-wide and per token) and each has a bounded buffer.
 */
export function eventRoutes(app: FastifyInstance, rt: Runtime): void {
  const budget = connectionBudget(rt.config);
  const gate = new StreamGate(budget.maxStreams);

  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/jobs/:id/events',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: 'Stream a job’s events (Server-Sent Events)',
        description:
          'Event types: `state` ({state, reason?}), `stdout` and `stderr` ({data}). Resume with `Last-Event-ID`. ' +
          'A reader that falls more than `http.stream_buffer_bytes` behind is cut off and resumes the same way.',
        tags: ['jobs'],
        params: z.object({ id: z.string().min(1).max(100) }),
        querystring: z.strictObject({
          after: z.coerce.number().int().min(0).optional(),
          /** false: send what is stored so far, then close (for `paddock jobs logs` without -f). */
          follow: z.enum(['true', 'false']).default('true'),
        }),
        headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }),
        response: { 200: z.string().describe('text/event-stream'), 401: ProblemView, 404: ProblemView, 429: ProblemView },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await getOwnJob(rt.store, request.principal, id);
      let last = Number(request.headers['last-event-id'] ?? request.query.after ?? 0);
      const releaseRunner = gate.enter();
      let releaseToken: () => void;
      try {
        releaseToken = rt.admission.openStream(request.principal); // the token's quotas.max_streams
      } catch (err) {
        releaseRunner();
        throw err;
      }

      reply.hijack();
      const res = reply.raw;
      rt.metrics.eventStreams.inc();
      const out = new SseWriter(res, budget.streamBufferBytes, rt.config.http.stall_ms, () => {
        rt.metrics.eventStreamsCut.inc();
        rt.log.debug({ jobId: id }, 'cut off a slow event reader');
      });
      // Set while a replay reads the store: the replay then reads again instead of buffering live events.
      let dirty = false;
      let live = false;
      const finish = () => {
        unsubscribe();
        rt.scheduler.stopSignal.removeEventListener('abort', finish);
        out.end();
      };
      const send = (e: StoredEvent): boolean => {
        if (e.seq <= last) return true;
        if (!out.write(frameOf(e))) return false;
        last = e.seq;
        if (e.type === 'state' && isTerminal((e.data as { state: string }).state)) finish();
        return out.open;
      };
      const unsubscribe = rt.bus.subscribe(id, (e) => {
        if (live) send(e);
        else dirty = true;
      });
      res.once('close', () => {
        unsubscribe();
        rt.scheduler.stopSignal.removeEventListener('abort', finish);
        releaseToken();
        releaseRunner();
        rt.metrics.eventStreams.dec();
      });
      // A stopping runner ends its streams; clients resume with Last-Event-ID.
      rt.scheduler.stopSignal.addEventListener('abort', finish, { once: true });

      /**
       * Sends what is stored after `last`, a page at a time and only as fast as
       * the socket drains; events published meanwhile are read from the store
       * (they are stored before they are published), not queued in memory.
       */
      const replay = async (): Promise<void> => {
        for (;;) {
          dirty = false;
          const page = await rt.store.listEvents(id, last, REPLAY_PAGE);
          for (const e of page) {
            if (!send(e)) return;
            await out.drained();
            if (!out.open) return;
          }
          if (page.length < REPLAY_PAGE && !dirty) return;
        }
      };

      try {
        await replay();
        if (!out.open) return;
        live = true; // no await between the last empty read and here, so nothing published is missed
        const current = await rt.store.getJob(id);
        // Resuming after the end state: nothing more will come, so close (after anything stored meanwhile).
        if (request.query.follow === 'false' || !current || isTerminal(current.state)) {
          live = false;
          await replay();
          finish();
        }
      } catch (err) {
        rt.log.warn({ err, jobId: id }, 'event stream failed');
        out.cut();
      }
    },
  );
}
