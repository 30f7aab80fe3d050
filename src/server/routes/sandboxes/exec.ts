import { StringDecoder } from 'node:string_decoder';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { JobResultView } from '../../job-view.js';
import { toPaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { ExecRun } from '../../../sandboxes/exec-run.js';
import { startExec } from '../../../sandboxes/exec-start.js';
import { SandboxEnv, SandboxPath } from '../../../sandboxes/spec.js';
import { SseWriter } from '../../event-stream.js';
import { problemOf } from '../../problem.js';
import { ProblemView } from '../schemas.js';
import type { SandboxStreams } from './streams.js';
import { sseFrame } from './streams.js';
import { errors, SandboxParams } from './view.js';

const NoNul = (what: string) => z.string().refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

export const ExecBody = z
  .strictObject({
    command: z.array(NoNul('argument')).min(1).optional(),
    script: NoNul('script').min(1).optional(),
    env: SandboxEnv.default({}),
    cwd: SandboxPath.optional(),
    /** Written to the process's stdin, which is then closed. */
    stdin: z.string().max(1024 * 1024).optional(),
    /** Keep stdin open for POST …/execs/:exec_id/stdin. */
    stdin_stream: z.boolean().default(false),
    /** Default: the sandbox's limits.timeout_ms. */
    timeout_ms: z.number().int().positive().optional(),
    /** Run on when the client goes away; the result stays readable at GET …/execs/:exec_id. */
    detach: z.boolean().default(false),
  })
  .refine((b) => (b.command === undefined) !== (b.script === undefined), {
    message: 'give exactly one of "command" (argv array) or "script" (shell text)',
    path: ['command'],
  })
  .refine((b) => !(b.stdin !== undefined && b.stdin_stream), { message: 'give "stdin" or "stdin_stream", not both', path: ['stdin'] });

/** A job's result shape (src/server/job-view.ts), plus which exec it was. */
export const ExecResultView = JobResultView.omit({ limit: true }).extend({ exec_id: z.string() });

export const ExecParams = SandboxParams.extend({ exec_id: z.string().min(1).max(100) });

export const ExecStateView = z.object({
  exec_id: z.string(),
  state: z.enum(['running', 'exited']),
  /** Output only for a detached exec (the others' readers had it), and only in the newest few. */
  result: ExecResultView.optional(),
  /** Instead of a result: why there is none (could not start, sandbox ended, agent died). */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** POST …/exec (JSON or SSE), GET …/execs/:exec_id, signal; stdin is in files.ts's raw-body context. */
export function sandboxExecRoutes(app: FastifyInstance, rt: Runtime, streams: SandboxStreams): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/sandboxes/:id/exec',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Run a command in a sandbox',
        description:
          'Answers with the result once the command exits. With `Accept: text/event-stream` the output is streamed: ' +
          'events `started` ({exec_id, pid}), `stdout`/`stderr` ({data}), then `exit` (the result with exec_id; ' +
          'its stdout/stderr are empty, the output came as events) or `error` (a problem). The process runs at the ' +
          'pace the reader takes its output. A client that goes away kills the command unless `detach` was given; ' +
          'a detached JSON exec answers `202 {exec_id, state}` at once. Paused or destroyed: `409 conflict`; ' +
          'past `sandboxes.max_execs` running: `429 too_many_execs`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        body: ExecBody,
        response: {
          200: ExecResultView,
          202: ExecStateView,
          409: ProblemView,
          429: ProblemView,
          502: ProblemView,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const streamed = request.headers.accept?.includes('text/event-stream') ?? false;
      // Stream places first: a refused stream starts nothing.
      const release = streamed ? streams.enter(request) : () => {};
      let run: ExecRun;
      try {
        run = await startExec(rt.sandboxes, rt.config, request.params.id, request.principal, request.body, streamed);
      } catch (err) {
        release();
        throw err;
      }
      if (streamed) return streamExec(rt, streams, reply, run, request.body.detach, release);
      if (request.body.detach) return reply.code(202).send({ exec_id: run.id, state: 'running' as const });
      // No orphans: the answer's reader went away, so does the command.
      reply.raw.once('close', () => !run.ended && !reply.raw.writableFinished && run.cancel());
      return { ...(await run.result), exec_id: run.id };
    },
  );

  r.get(
    '/v1/sandboxes/:id/execs/:exec_id',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'An exec’s state, and its result once it exited',
        description:
          'The last 64 execs of a live sandbox are kept. The result holds output only for a detached exec ' +
          '(the newest 8 of them); others answered their reader, and show empty `stdout`/`stderr` here.',
        tags: ['sandboxes'],
        params: ExecParams,
        response: { 200: ExecStateView, ...errors },
      },
    },
    async (request) => {
      const run = await rt.sandboxes.findExec(request.params.id, request.principal, request.params.exec_id);
      const result = run.lastResult;
      if (result) return { exec_id: run.id, state: 'exited' as const, result: { ...result, exec_id: run.id } };
      const error = run.error;
      if (error) return { exec_id: run.id, state: 'exited' as const, error: { code: error.code, message: error.message } };
      return { exec_id: run.id, state: 'running' as const };
    },
  );

  r.post(
    '/v1/sandboxes/:id/execs/:exec_id/signal',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Send a signal to an exec’s process group',
        tags: ['sandboxes'],
        params: ExecParams,
        body: z.strictObject({
          signal: z
            .string()
            .transform((s) => s.toUpperCase().replace(/^SIG/, ''))
            .pipe(z.enum(['TERM', 'KILL', 'INT', 'HUP', 'QUIT', 'USR1', 'USR2', 'STOP', 'CONT', 'WINCH'])),
        }),
        response: { 204: z.null().describe('sent'), 409: ProblemView, ...errors },
      },
    },
    async (request, reply) => {
      const run = await rt.sandboxes.findExec(request.params.id, request.principal, request.params.exec_id);
      run.signal(request.body.signal);
      return reply.code(204).send(null);
    },
  );
}

/**
 * The exec's output as SSE. Each chunk waits until the socket took the one before
 * (that wait is the agent's credit), so a slow reader slows the process and the
 * runner holds about one frame per stream; a reader that takes nothing for
 * `http.stall_ms` is cut off (and its exec killed, unless detached).
 */
async function streamExec(
  rt: Runtime,
  streams: SandboxStreams,
  reply: FastifyReply,
  run: ExecRun,
  detach: boolean,
  release: () => void,
): Promise<void> {
  let out: SseWriter | undefined;
  let ready!: () => void;
  const readyToSend = new Promise<void>((resolve) => (ready = resolve));
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  let seq = 0;
  const send = (event: string, data: unknown) => out?.write(sseFrame(++seq, event, data));
  // Attached before anything can arrive; output waits (and so does the process) until `started` is sent.
  run.attach(async (stream, chunk) => {
    await readyToSend;
    if (!out?.open) return;
    const data = decoders[stream].write(chunk);
    if (data) send(stream, { data });
    await out.drained();
  });
  let pid: number;
  try {
    // An exec that cannot start (no such command or cwd) is an HTTP problem, not a stream.
    ({ pid } = await run.started);
  } catch (err) {
    run.detach();
    ready();
    release();
    await run.result.catch(() => undefined);
    throw err;
  }

  reply.hijack();
  const res = reply.raw;
  out = new SseWriter(res, streams.bufferBytes, rt.config.http.stall_ms, () =>
    rt.log.debug({ execId: run.id }, 'cut off a slow exec reader'),
  );
  let done = false;
  const gone = () => {
    release();
    if (done) return;
    run.detach();
    if (!detach) run.cancel();
  };
  if (res.destroyed) gone();
  else res.once('close', gone);
  send('started', { exec_id: run.id, pid });
  ready();
  try {
    const result = await run.result;
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = decoders[stream].end();
      if (rest) send(stream, { data: rest });
    }
    send('exit', { ...result, stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false, exec_id: run.id });
  } catch (err) {
    send('error', problemOf(toPaddockError(err)));
  }
  done = true;
  streams.endsConnection(res);
  out.end();
}
