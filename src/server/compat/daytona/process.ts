import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import { startExec } from '../../../sandboxes/exec-start.js';
import { SandboxEnv } from '../../../sandboxes/spec.js';
import { upgradeOf } from '../../routes/sandboxes/preview-tunnel.js';
import { timedOut, timeoutMs } from './exec-timeout.js';
import { sandboxPath } from './file-info.js';
import { SessionCommand, type Stream } from './session-command.js';
import { sessionArgv } from './session-shell.js';
import { Sessions } from './sessions.js';
import { acceptWebSocket } from './websocket.js';

const NoNul = z.string().min(1).max(256 * 1024).refine((s) => !s.includes('\0'), 'must not contain NUL bytes');
const SessionId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'session ids are letters, digits and . _ - (at most 128)');
const Params = z.object({ id: z.string().min(1).max(100) });
const SessionParams = Params.extend({ sid: SessionId });
const CommandParams = SessionParams.extend({ cid: z.string().min(1).max(100) });
const tags = ['compat'];

/** Daytona's stream markers on a logs WebSocket (@daytonaio/sdk Process.js STDOUT/STDERR_PREFIX_BYTES). */
const PREFIX: Record<Stream, Buffer> = { stdout: Buffer.from([1, 1, 1]), stderr: Buffer.from([2, 2, 2]) };

/**
 * `executeCommand` answers one `result`, stdout and stderr together in the order they came (as
 * Daytona's daemon does): the shell runs the command with its stderr on its stdout.
 */
const merged = (command: string) => ['/bin/sh', '-c', 'exec /bin/sh -c "$1" 2>&1', 'sh', command];

/** `<toolbox>/:id/process/…`: one-shot commands, and sessions of commands whose logs can be followed over a WebSocket. */
export function daytonaProcessRoutes(app: FastifyInstance, rt: Runtime, sockets: Set<Duplex>): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const sessions = new Sessions(rt.sandboxes);
  const base = (detach: boolean, command: string[], env: Record<string, string> = {}, cwd?: string, timeout?: number) => ({
    command,
    env,
    cwd,
    // An async session command keeps stdin open for …/input, as Daytona's session shell does; the others get none.
    stdin_stream: detach,
    timeout_ms: timeoutMs(rt, timeout),
    detach,
  });

  r.post(
    '/:id/process/execute',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Run a command, answer its exit code and output (Daytona compatible)',
        tags,
        params: Params,
        body: z.looseObject({ command: NoNul, cwd: z.string().min(1).max(4096).optional(), envs: SandboxEnv.optional(), timeout: z.number().int().min(0).optional() }),
      },
    },
    async (request, reply) => {
      const { command, envs, timeout } = request.body;
      // A relative cwd is taken from the work dir, as Daytona does.
      const workDir = (await rt.sandboxes.running(request.params.id, request.principal)).row.spec.cwd;
      const cwd = request.body.cwd === undefined ? undefined : sandboxPath(workDir, request.body.cwd, 'cwd');
      const run = await startExec(rt.sandboxes, rt.config, request.params.id, request.principal, base(false, merged(command), envs, cwd, timeout), false);
      reply.raw.once('close', () => !run.ended && !reply.raw.writableFinished && run.cancel());
      const result = await run.result;
      if (result.timed_out) throw timedOut(timeout);
      return { exitCode: result.exit_code ?? -1, result: result.stdout };
    },
  );

  r.post(
    '/:id/process/session',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Create a session (Daytona compatible)', tags, params: Params, body: z.looseObject({ sessionId: SessionId }) } },
    async (request, reply) => {
      await rt.sandboxes.running(request.params.id, request.principal);
      sessions.create(request.params.id, request.body.sessionId);
      return reply.code(201).send(null);
    },
  );

  const sessionView = (s: { id: string; commands: Map<string, SessionCommand> }) => ({
    sessionId: s.id,
    commands: [...s.commands.values()].map((c) => c.view()),
  });

  r.get('/:id/process/session', { config: { scope: 'sandboxes:read' }, schema: { tags, params: Params } }, async (request) => {
    await rt.sandboxes.get(request.params.id, request.principal);
    return sessions.list(request.params.id).map(sessionView);
  });

  r.get('/:id/process/session/:sid', { config: { scope: 'sandboxes:read' }, schema: { tags, params: SessionParams } }, async (request) => {
    await rt.sandboxes.get(request.params.id, request.principal);
    return sessionView(sessions.get(request.params.id, request.params.sid));
  });

  r.delete('/:id/process/session/:sid', { config: { scope: 'sandboxes:write' }, schema: { tags, params: SessionParams } }, async (request, reply) => {
    await rt.sandboxes.get(request.params.id, request.principal);
    sessions.delete(request.params.id, request.params.sid);
    return reply.code(204).send(null);
  });

  r.post(
    '/:id/process/session/:sid/exec',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Run a command in a session; with runAsync answer its id at once (Daytona compatible)',
        description: 'Each command is a native exec of its own; the working directory and exported variables carry to the next (session-shell.ts).',
        tags,
        params: SessionParams,
        body: z.looseObject({ command: NoNul, runAsync: z.boolean().optional(), async: z.boolean().optional() }),
      },
    },
    async (request) => {
      const { id, sid } = request.params;
      await rt.sandboxes.get(id, request.principal);
      const session = sessions.get(id, sid);
      const async = request.body.runAsync ?? request.body.async ?? false;
      const run = await startExec(rt.sandboxes, rt.config, id, request.principal, base(async, sessionArgv(session.stateKey, request.body.command)), false);
      const live = rt.sandboxes.liveById(id);
      const cmd = new SessionCommand(run, request.body.command, live?.row.spec.limits.output_bytes ?? rt.config.limits.default.output_bytes);
      sessions.add(id, session, cmd);
      if (async) return { cmdId: cmd.id };
      await cmd.ended;
      return { cmdId: cmd.id, exitCode: cmd.exitCode, ...cmd.logs() };
    },
  );

  r.post(
    '/:id/process/session/:sid/command/:cid/input',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Write to an async session command’s stdin (Daytona compatible)',
        tags,
        params: CommandParams,
        body: z.looseObject({ data: z.string().max(1024 * 1024) }),
      },
    },
    async (request, reply) => {
      const { id, sid, cid } = request.params;
      await rt.sandboxes.get(id, request.principal);
      const cmd = sessions.command(id, sid, cid);
      if (cmd.exitCode !== undefined) {
        throw new PaddockError('conflict', `command ${cid} has ended`, { daytona_code: 'COMMAND_ALREADY_COMPLETED' }, { status: 410 });
      }
      await cmd.run.writeStdin([request.body.data], false);
      return reply.code(200).send(null);
    },
  );

  r.get('/:id/process/session/:sid/command/:cid', { config: { scope: 'sandboxes:read' }, schema: { tags, params: CommandParams } }, async (request) => {
    const { id, sid, cid } = request.params;
    await rt.sandboxes.get(id, request.principal);
    return sessions.command(id, sid, cid).view();
  });

  r.get(
    '/:id/process/session/:sid/command/:cid/logs',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'A session command’s output; as a WebSocket with follow=true (Daytona compatible)',
        description: 'Over the WebSocket: binary frames, stdout after 01 01 01 and stderr after 02 02 02; closed (1000) when the command ends.',
        tags,
        params: CommandParams,
        querystring: z.looseObject({ follow: z.enum(['true', 'false']).optional() }),
      },
    },
    async (request, reply) => {
      const { id, sid, cid } = request.params;
      await rt.sandboxes.get(id, request.principal);
      const cmd = sessions.command(id, sid, cid);
      const upgrade = upgradeOf(request.raw);
      if (!upgrade || request.query.follow !== 'true') return cmd.logs();
      // A sandbox someone follows the output of is in use, as one with a preview open is: not idle.
      return rt.sandboxes.use(id, request.principal, async () => {
        const ws = acceptWebSocket(request, reply, upgrade);
        sockets.add(upgrade.socket);
        const unfollow = cmd.follow((stream, chunk) => ws.sendBinary(Buffer.concat([PREFIX[stream], chunk])));
        void cmd.ended.then(() => ws.close(1000, 'command ended'));
        await ws.closed;
        unfollow();
        sockets.delete(upgrade.socket);
        return reply;
      });
    },
  );
}
