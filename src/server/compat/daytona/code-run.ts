import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../../runtime.js';
import { startExec } from '../../../sandboxes/exec-start.js';
import { SandboxEnv } from '../../../sandboxes/spec.js';
import { timedOut, timeoutMs } from './exec-timeout.js';
import { notSupported } from './unsupported.js';

/**
 * `process.codeRun` (the SDK sends the sandbox's `code-toolbox-language` label): the code as the
 * interpreter's program text, its output (stderr merged, as executeCommand) as `result`. Charts
 * and the stateful code interpreter are not offered; an image without the interpreter answers
 * exit code 127 ("not found"), as a shell would.
 */
const INTERPRETERS: Record<string, string> = {
  python: 'exec python3 -c "$0" "$@" 2>&1',
  javascript: 'exec node -e "$0" -- "$@" 2>&1',
};

const Arg = z.string().max(64 * 1024).refine((s) => !s.includes('\0'), 'must not contain NUL bytes');

export function daytonaCodeRunRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/:id/process/code-run',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Run code with the sandbox language’s interpreter (Daytona compatible)',
        tags: ['compat'],
        params: z.object({ id: z.string().min(1).max(100) }),
        body: z.looseObject({
          code: Arg.min(1),
          language: z.string().max(32),
          argv: z.array(Arg).max(256).optional(),
          envs: SandboxEnv.optional(),
          timeout: z.number().int().min(0).optional(),
        }),
      },
    },
    async (request, reply) => {
      const { code, language, argv = [], envs = {}, timeout } = request.body;
      const script = INTERPRETERS[language];
      if (!script) throw notSupported(`codeRun in ${language.slice(0, 32)}`, 'python and javascript are');
      const run = await startExec(rt.sandboxes, rt.config, request.params.id, request.principal, {
        command: ['/bin/sh', '-c', script, code, ...argv],
        env: envs,
        stdin_stream: false,
        timeout_ms: timeoutMs(rt, timeout),
        detach: false,
      }, false);
      reply.raw.once('close', () => !run.ended && !reply.raw.writableFinished && run.cancel());
      const result = await run.result;
      if (result.timed_out) throw timedOut(timeout);
      return { exitCode: result.exit_code ?? -1, result: result.stdout, artifacts: { stdout: result.stdout, charts: [] } };
    },
  );
}
