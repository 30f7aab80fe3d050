import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { ExecRun } from '../../../sandboxes/exec-run.js';
import { startExec } from '../../../sandboxes/exec-start.js';
import { SandboxEnv, SandboxPath } from '../../../sandboxes/spec.js';
import type { EnvdTokens } from './auth.js';
import { ConnectStream, readEnvelope } from './connect.js';

/** envd pings an open stream this often unless the client asks otherwise (Keepalive-Ping-Interval, seconds). */
const KEEPALIVE_S = 50;
/** Processes remembered per sandbox for List, Connect, SendInput and SendSignal; ended ones go first. */
const MAX_PROCESSES = 256;

const NoNul = z.string().max(128 * 1024).refine((s) => !s.includes('\0'), 'must not contain NUL bytes');
const ProcessConfig = z.looseObject({
  cmd: NoNul.min(1),
  args: z.array(NoNul).max(4096).default([]),
  envs: SandboxEnv.default({}),
  cwd: z.string().max(4096).optional(),
});
type ProcessConfig = z.infer<typeof ProcessConfig>;
const Selector = z.looseObject({ process: z.looseObject({ pid: z.number().int().min(0).optional(), tag: z.string().max(256).optional() }) });
const StartRequest = z.looseObject({ process: ProcessConfig, stdin: z.boolean().optional(), tag: z.string().max(256).optional() });

interface Known {
  run: ExecRun;
  config: ProcessConfig;
  tag: string | undefined;
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new PaddockError('validation_failed', `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`);
}

/** Go's ProcessState.String() of how a process ended, as envd reports it in `status`. */
function statusOf(exitCode: number | null, signal: string | null): string {
  if (signal) return `signal: ${{ SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGPIPE: 'broken pipe' }[signal] ?? signal.toLowerCase()}`;
  return `exit status ${exitCode ?? -1}`;
}

/** envd's process service (`process.Process/*`) over the sandbox's native execs; pids are the agent's. */
export function e2bProcessRoutes(app: FastifyInstance, rt: Runtime, tokens: EnvdTokens): void {
  const bySandbox = new Map<string, Map<number, Known>>();
  const known = (id: string) => {
    let m = bySandbox.get(id);
    if (!m) bySandbox.set(id, (m = new Map()));
    for (const sid of bySandbox.keys()) if (!rt.sandboxes.liveById(sid)) bySandbox.delete(sid);
    return m;
  };
  const find = (id: string, sel: z.infer<typeof Selector>['process']): [number, Known] => {
    for (const [pid, k] of bySandbox.get(id) ?? []) {
      if ((sel.pid !== undefined && pid === sel.pid) || (sel.tag !== undefined && k.tag === sel.tag)) return [pid, k];
    }
    throw new PaddockError('not_found', `process ${sel.pid ?? sel.tag} not found`);
  };

  /**
   * Takes an exec's output from its first byte: held until the stream is open (the process may
   * print before its start is confirmed), then passed on. Returns where to connect the stream.
   */
  function hold(run: ExecRun): (send: (name: string, chunk: Buffer) => Promise<void>) => Promise<void> {
    const held: [string, Buffer][] = [];
    let deliver: ((name: string, chunk: Buffer) => Promise<void>) | undefined;
    run.attach(async (name, chunk) => (deliver ? deliver(name, chunk) : void held.push([name, chunk])));
    return async (send) => {
      for (const [name, chunk] of held.splice(0)) await send(name, chunk);
      deliver = send;
    };
  }

  /** Streams one exec: `start`, its output as it comes (at the client's pace), keepalives, `end`. */
  async function stream(request: FastifyRequest, reply: FastifyReply, run: ExecRun, pid: number, connect = hold(run)): Promise<void> {
    reply.hijack();
    const s = new ConnectStream(reply.raw);
    const interval = Number(request.headers['keepalive-ping-interval']);
    const every = Number.isInteger(interval) && interval >= 1 && interval <= 3600 ? interval : KEEPALIVE_S;
    const keepalive = setInterval(() => void s.send({ event: { keepalive: {} } }), every * 1000);
    const started = s.send({ event: { start: { pid } } }).then(() => connect((name, chunk) => s.send({ event: { data: { [name]: chunk.toString('base64') } } })));
    // A client that goes away leaves the process running, as envd does; Connect picks it up again.
    void s.closed.then(() => run.detach());
    try {
      const r = await run.result;
      await started;
      await s.send({ event: { end: { exitCode: r.exit_code ?? -1, exited: r.exit_code !== null, status: statusOf(r.exit_code, r.signal) } } });
      s.end();
    } catch (err) {
      s.end(err instanceof PaddockError ? err : new PaddockError('internal', (err as Error).message));
    } finally {
      clearInterval(keepalive);
    }
  }

  app.post('/process.Process/Start', async (request, reply) => {
    const { live, owner } = tokens.check(request, rt);
    const msg = parse(StartRequest, readEnvelope(request.body as Buffer | undefined));
    const cwd = parse(SandboxPath, path.posix.resolve(live.row.spec.cwd, msg.process.cwd || '.'));
    const deadline = Number(request.headers['connect-timeout-ms']);
    const run = await startExec(rt.sandboxes, rt.config, live.id, owner, {
      command: [msg.process.cmd, ...msg.process.args],
      env: msg.process.envs,
      cwd,
      stdin_stream: msg.stdin === true,
      detach: true,
      ...(Number.isInteger(deadline) && deadline > 0 ? { timeout_ms: Math.min(deadline, rt.config.limits.max.timeout_ms) } : {}),
    }, true);
    const connect = hold(run);
    let pid: number;
    try {
      ({ pid } = await run.started);
    } catch (err) {
      throw err instanceof PaddockError ? err : new PaddockError('internal', (err as Error).message);
    }
    const m = known(live.id);
    m.set(pid, { run, config: msg.process, tag: msg.tag });
    for (const [old, k] of m) if (m.size > MAX_PROCESSES && k.run.ended) m.delete(old);
    await stream(request, reply, run, pid, connect);
  });

  app.post('/process.Process/Connect', async (request, reply) => {
    const { live } = tokens.check(request, rt);
    const sel = parse(Selector, readEnvelope(request.body as Buffer | undefined));
    const [pid, k] = find(live.id, sel.process);
    await stream(request, reply, k.run, pid);
  });

  app.post('/process.Process/List', async (request) => {
    const { live } = tokens.check(request, rt);
    const processes = [...(bySandbox.get(live.id) ?? [])]
      .filter(([, k]) => !k.run.ended)
      .map(([pid, k]) => ({ pid, config: { cmd: k.config.cmd, args: k.config.args, envs: k.config.envs, ...(k.config.cwd ? { cwd: k.config.cwd } : {}) }, ...(k.tag ? { tag: k.tag } : {}) }));
    return { processes };
  });

  app.post('/process.Process/SendInput', async (request) => {
    const { live } = tokens.check(request, rt);
    const msg = parse(Selector.extend({ input: z.looseObject({ stdin: z.base64().max(8 * 1024 * 1024).optional() }) }), request.body);
    const [, k] = find(live.id, msg.process);
    if (msg.input.stdin !== undefined) await k.run.writeStdin([Buffer.from(msg.input.stdin, 'base64')], false);
    return {};
  });

  app.post('/process.Process/CloseStdin', async (request) => {
    const { live } = tokens.check(request, rt);
    const [, k] = find(live.id, parse(Selector, request.body).process);
    await k.run.writeStdin([], true);
    return {};
  });

  app.post('/process.Process/SendSignal', async (request) => {
    const { live } = tokens.check(request, rt);
    const msg = parse(Selector.extend({ signal: z.union([z.enum(['SIGNAL_SIGKILL', 'SIGNAL_SIGTERM']), z.literal(9), z.literal(15)]) }), request.body);
    const [, k] = find(live.id, msg.process);
    if (k.run.ended) throw new PaddockError('not_found', `process ${msg.process.pid ?? msg.process.tag} has exited`);
    k.run.signal(msg.signal === 'SIGNAL_SIGKILL' || msg.signal === 9 ? 'KILL' : 'TERM');
    return {};
  });
}
