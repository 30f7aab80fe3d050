import type { FastifyInstance, FastifyRequest } from 'fastify';
import { seesAllJobs } from '../../../auth/ownership.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { JobRow } from '../../../store/store.js';
import { Judge0Callbacks } from './callbacks.js';
import { badRequest, FieldErrors, installJudge0Errors, Judge0Error, notFound } from './errors.js';
import { DEFAULT_FIELDS, type Field, flag, parseFields } from './fields.js';
import { infoRoutes, MAX_BATCH } from './info.js';
import { judge0Limits } from './limits.js';
import { parseSubmission } from './request.js';
import { CONVERSION_ERROR, isJudge0Job, submissionView } from './view.js';

/** Beyond a job's own hard cap: its end's bookkeeping. */
const WAIT_MARGIN_MS = 60_000;
const MAX_TOKEN = 100;
const MAX_TIMER_MS = 2 ** 31 - 1;
const read = { scope: 'jobs:read' as const, authToken: true };
const write = { scope: 'jobs:write' as const, authToken: true };
const tags = ['judge0'];

type Query = Record<string, unknown>;

/** Where a judge job's refusal at submit goes among Judge0's fields. */
const NATIVE_FIELD: Record<string, string> = {
  'limits.cpu_time_ms': 'cpu_time_limit',
  'limits.wall_time_ms': 'wall_time_limit',
  'limits.memory_mb': 'memory_limit',
  'limits.pids': 'max_processes_and_or_threads',
  'limits.file_size_kb': 'max_file_size',
  'limits.stack_kb': 'stack_limit',
  'limits.output_bytes': 'max_file_size',
  language: 'language_id',
};

function asJudge0(err: unknown): unknown {
  if (!(err instanceof PaddockError)) return err;
  const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
  if (!field || !['limit_exceeded', 'validation_failed', 'unknown_language'].includes(err.code)) return err;
  // The judge's size check names `tests`; its count check says "N tests is more than …".
  const name = NATIVE_FIELD[field] ?? (field === 'tests' ? (err.message.includes('bytes') ? 'source_code' : 'number_of_runs') : 'base');
  return new FieldErrors({ [name]: [err.message] });
}

/**
 * The Judge0 CE API (`judge.judge0_prefix`, default /judge0) over judge jobs: a submission is one
 * judge job with one test (number_of_runs tests, stopping at the first failure), its token the
 * job's id. Auth is Paddock's tokens, sent as `X-Auth-Token` (or a bearer). Errors come in
 * Judge0's own shapes (src/server/compat/judge0/errors.ts); the native API shows the same jobs
 * with their real verdicts (memory_limit_exceeded, which Judge0 cannot say).
 */
export function judge0CompatRoutes(app: FastifyInstance, rt: Runtime): void {
  const prefix = rt.config.judge.judge0_prefix;
  if (prefix === '') return;
  void app.register(async (sub) => judge0Routes(sub, rt), { prefix });
}

async function judge0Routes(app: FastifyInstance, rt: Runtime): Promise<void> {
  installJudge0Errors(app);
  const limits = judge0Limits(rt.config.judge);
  const render = (row: JobRow, fields: readonly Field[], base64: boolean) => submissionView(row, { fields, base64, health: rt.judge, limits });
  const callbacks = new Judge0Callbacks(rt, (row) => render(row, DEFAULT_FIELDS, true));
  app.addHook('onClose', () => callbacks.close());
  infoRoutes(app, rt, limits);

  const waitCap = (row: JobRow) => (JSON.parse(row.spec) as { limits: { timeout_ms: number } }).limits.timeout_ms + WAIT_MARGIN_MS;
  /** How long a callback waits for its job: its time in the queue too (a timer holds at most ~24.8 days). */
  const callbackCap = (row: JobRow) => {
    const queued = row.queue_expires_at ? Math.max(0, Date.parse(row.queue_expires_at) - Date.now()) : MAX_TIMER_MS;
    return Math.min(MAX_TIMER_MS, queued + waitCap(row));
  };

  async function submit(request: FastifyRequest, body: unknown, base64: boolean): Promise<JobRow> {
    const parsed = parseSubmission(body, { base64, limits, callbacks: rt.config.callbacks });
    if (parsed.callbackUrl) callbacks.reserve();
    rt.storage.checkSubmit();
    const p = request.principal;
    const { row } = await rt.scheduler.submit(parsed.spec, { tokenId: p?.tokenId ?? null, quotas: p?.quotas }).catch((err: unknown) => {
      throw asJudge0(err);
    });
    if (parsed.callbackUrl) callbacks.watch(row.id, parsed.callbackUrl, callbackCap(row));
    return row;
  }

  /** A submission the caller may see: its own (an admin's: any) judge job made here; else null. */
  async function visible(request: FastifyRequest, token: string): Promise<JobRow | null> {
    if (token.length === 0 || token.length > MAX_TOKEN) return null;
    const row = await rt.store.getJob(token);
    const p = request.principal;
    if (!row || !(seesAllJobs(p) || (p !== undefined && row.token_id === p.tokenId))) return null;
    return isJudge0Job(row) ? row : null;
  }

  app.post<{ Querystring: Query }>('/submissions', { config: write, schema: { summary: 'Create a submission (Judge0)', tags } }, async (request, reply) => {
    const q = request.query;
    const fields = parseFields(q.fields);
    const row = await submit(request, request.body, flag(q.base64_encoded));
    reply.code(201);
    if (!flag(q.wait)) return { token: row.id };
    // Held at most as long as any waiting request (wait_max_ms); a submission still running then reads 1 or 2, to poll.
    await rt.scheduler.waitForEnd(row.id, Math.min(waitCap(row), rt.config.wait_max_ms));
    const current = (await rt.store.getJob(row.id)) ?? row;
    try {
      return render(current, fields, flag(q.base64_encoded));
    } catch (err) {
      // Judge0: the submission was made, so 201 with its token beside the error.
      if (err instanceof Judge0Error && err.status === 400) return { token: row.id, error: CONVERSION_ERROR };
      throw err;
    }
  });

  app.get<{ Params: { token: string }; Querystring: Query }>(
    '/submissions/:token',
    { config: read, schema: { summary: 'Get a submission (Judge0)', tags } },
    async (request) => {
      const fields = parseFields(request.query.fields);
      const row = await visible(request, request.params.token);
      if (!row) throw notFound();
      return render(row, fields, flag(request.query.base64_encoded));
    },
  );

  app.delete('/submissions/:token', { config: write, schema: { summary: 'Delete a submission (Judge0: not allowed)', tags } }, async () => {
    throw badRequest('delete not allowed');
  });

  app.post<{ Querystring: Query }>('/submissions/batch', { config: write, schema: { summary: 'Create submissions (Judge0)', tags } }, async (request, reply) => {
    const body = request.body as { submissions?: unknown } | null;
    const items = Array.isArray(body?.submissions) ? (body.submissions as unknown[]) : [];
    checkBatchSize(items.length);
    const base64 = flag(request.query.base64_encoded);
    const answers: unknown[] = [];
    let made = 0;
    let refusal: unknown;
    for (const item of items) {
      try {
        answers.push({ token: (await submit(request, item, base64)).id });
        made++;
      } catch (err) {
        if (err instanceof FieldErrors) answers.push(err.fields);
        else if (err instanceof Judge0Error || err instanceof PaddockError) {
          refusal ??= err;
          answers.push({ error: err.message });
        } else throw err;
      }
    }
    // Nothing made because the runner refused (queue, quota, disk): that refusal, not a 422.
    if (made === 0 && refusal) throw refusal;
    return reply.code(made > 0 ? 201 : 422).send(answers);
  });

  app.get<{ Querystring: Query }>('/submissions/batch', { config: read, schema: { summary: 'Get submissions (Judge0)', tags } }, async (request) => {
    const q = request.query;
    const raw = typeof q.tokens === 'string' ? q.tokens : request.headers.tokens;
    const tokens = (typeof raw === 'string' ? raw : '').trim().split(',').filter((t) => t !== '');
    checkBatchSize(tokens.length);
    const fields = parseFields(q.fields);
    const base64 = flag(q.base64_encoded);
    const submissions = [];
    for (const token of tokens) {
      const row = await visible(request, token.trim());
      try {
        submissions.push(row ? render(row, fields, base64) : null);
      } catch (err) {
        if (err instanceof Judge0Error && err.status === 400) throw badRequest(CONVERSION_ERROR.replace('this submission', 'one or more submissions'));
        throw err;
      }
    }
    return { submissions };
  });
}

function checkBatchSize(n: number): void {
  if (n > MAX_BATCH) throw badRequest(`number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
  if (n === 0) throw badRequest('there should be at least one submission in a batch');
}
