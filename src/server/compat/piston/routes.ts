import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Scope } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import { JudgeResult } from '../../../judge/result.js';
import type { Runtime } from '../../../runtime.js';
import type { JobRow } from '../../../store/store.js';
import { pistonPrincipal } from './auth.js';
import { installPistonErrors, NOT_JSON } from './errors.js';
import { pistonExecute } from './request.js';
import { PistonResult, pistonResult } from './response.js';
import { pistonRuntimes } from './runtimes.js';

/** Where a job may still be after its own deadline: the end's bookkeeping. */
const WAIT_MARGIN_MS = 60_000;

const PistonError = z.object({ message: z.string() });
const errors = { 400: PistonError, 401: PistonError, 403: PistonError, 413: PistonError, 415: PistonError, 429: PistonError, 500: PistonError, 503: PistonError };

const EXECUTE_DOC = [
  '`{language, version, files: [{name?, content, encoding?: utf8|base64|hex}], stdin?, args?, compile_timeout?, run_timeout?,',
  'compile_cpu_time?, run_cpu_time? (ms), compile_memory_limit?, run_memory_limit? (bytes, -1: the default)}`, checked in',
  "Piston's order with its messages. `version` is a semver selector matched against the version the language printed at its",
  'last smoke test. The first utf8 file is the program (written as the language\'s entry file: main.py, Main.java…), the others',
  "keep their plain names. Limits past the judge's caps are 400. A judge job of one test runs it (`job_id`).",
].join(' ');

/**
 * A Piston v2 compatible API (engineer-man/piston docs/api-v2.md) under `judge.piston_prefix`, over
 * judge jobs: `POST /api/v2/execute` and `GET /api/v2/runtimes`. Errors are Piston's `{"message": …}`.
 * Auth is Paddock's bearer token (jobs:write / jobs:read), or none from loopback with
 * `judge.piston_open_loopback` (see auth.ts).
 */
export async function pistonCompatRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  const { piston_prefix: prefix, piston_open_loopback: open } = rt.config.judge;
  if (!prefix) return;
  await app.register(
    async (scope) => {
      installPistonErrors(scope);
      const auth = (needs: Scope, json = false) => async (request: FastifyRequest) => {
        request.principal = await pistonPrincipal(request, rt.store, needs, open);
        if (json && !String(request.headers['content-type'] ?? '').startsWith('application/json')) {
          throw new PaddockError('unsupported_media_type', NOT_JSON);
        }
      };
      const r = scope.withTypeProvider<ZodTypeProvider>();

      r.get(
        '/api/v2/runtimes',
        {
          onRequest: auth('jobs:read'),
          schema: {
            summary: 'Runtimes (Piston v2 compatible)',
            description: 'The judge languages that pass their smoke test, with the versions they print, by Piston name and aliases.',
            tags: ['compat'],
            response: { 200: z.array(z.object({ language: z.string(), version: z.string(), aliases: z.array(z.string()) })), ...errors },
          },
        },
        async () => pistonRuntimes(rt.judge),
      );

      r.post(
        '/api/v2/execute',
        {
          onRequest: auth('jobs:write', true),
          schema: { summary: 'Execute a program (Piston v2 compatible)', description: EXECUTE_DOC, tags: ['compat'], response: { 200: PistonResult, ...errors } },
        },
        async (request, reply) => {
          rt.storage.checkSubmit();
          const asked = pistonExecute(request.body, { judge: rt.config.judge, health: rt.judge });
          const { row } = await rt.scheduler.submit(asked.spec, { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas });
          // A client that goes away does not leave its program running (Piston would; nobody reads the answer).
          let answered = false;
          const gone = () => {
            if (!answered) void rt.scheduler.cancel(row.id).catch(() => undefined);
          };
          reply.raw.once('close', gone);
          try {
            const deadline = (JSON.parse(row.spec) as { limits: { timeout_ms: number } }).limits.timeout_ms;
            if (!(await rt.scheduler.waitForEnd(row.id, deadline + WAIT_MARGIN_MS))) {
              throw new PaddockError('shutting_down', `job ${row.id} did not end before the runner stopped or the wait ran out`, { job_id: row.id });
            }
          } finally {
            answered = true;
            reply.raw.off('close', gone);
          }
          const ended = (await rt.store.getJob(row.id))!;
          return pistonResult(judged(ended), { language: asked.language.piston.name, version: asked.version, jobId: row.id });
        },
      );
    },
    { prefix },
  );
}

/** The stored judge result of a job that judged; a job that could not judge is the runner's failure (500), or 503 when it stopped. */
function judged(row: JobRow): JudgeResult {
  const result = row.result ? JudgeResult.safeParse(JSON.parse(row.result)) : undefined;
  if (row.state === 'succeeded' && result?.success) return result.data;
  const said = row.error ? (JSON.parse(row.error) as { message?: string }).message : undefined;
  const what = `job ${row.id} ended ${row.state} (${row.reason ?? 'no reason'})${said ? `: ${said}` : ''}`;
  throw new PaddockError(row.reason === 'runner_shutdown' ? 'shutting_down' : 'internal', what, { job_id: row.id });
}
