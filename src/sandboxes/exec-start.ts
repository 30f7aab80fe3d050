import type { Principal } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { BASE_ENV } from '../sandbox/driver.js';
import { ExecRun } from './exec-run.js';
import type { SandboxService } from './service.js';


export interface ExecRequestBody {
  command?: string[] | undefined;
  script?: string | undefined;
  env: Record<string, string>;
  cwd?: string | undefined;
  stdin?: string | undefined;
  stdin_stream: boolean;
  timeout_ms?: number | undefined;
  detach: boolean;
}

/**
 * Starts an exec in a running sandbox of this principal's: `409` unless running,
 * `429 too_many_execs` past `sandboxes.max_execs`. `streamed` execs keep their
 * output flowing past the output cap (the reader takes it); JSON ones are killed there, as jobs are.
 */
export async function startExec(
  service: SandboxService,
  config: Config,
  id: string,
  p: Principal | undefined,
  body: ExecRequestBody,
  streamed: boolean,
): Promise<ExecRun> {
  const live = await service.running(id, p);
  const { spec } = live.row;
  const max = config.sandboxes.max_execs;
  if (live.running >= max) {
    throw new PaddockError('too_many_execs', `sandbox ${id} already runs ${live.running} execs (sandboxes.max_execs)`, {
      limit: max,
      retry_after_s: 1,
    });
  }
  const maxTimeout = config.limits.max.timeout_ms;
  if (body.timeout_ms !== undefined && body.timeout_ms > maxTimeout) {
    throw new PaddockError('limit_exceeded', `timeout_ms = ${body.timeout_ms} is above this runner's maximum of ${maxTimeout}`, {
      field: 'timeout_ms',
      max: maxTimeout,
    });
  }
  const run = new ExecRun(live.agent, {
    argv: body.command ?? ['/bin/sh', '-c', body.script!],
    env: { ...BASE_ENV, ...spec.env, ...body.env },
    cwd: body.cwd ?? spec.cwd,
    stdin: body.stdin === undefined ? undefined : Buffer.from(body.stdin, 'utf8'),
    stdinStream: body.stdin_stream,
    timeoutMs: body.timeout_ms ?? spec.limits.timeout_ms,
    // A sandbox's cpu_ms bounds each exec's processes (the sandbox as a whole is the driver's to bound).
    cpuSeconds: Math.ceil(spec.limits.cpu_ms / 1000),
    outputBytes: spec.limits.output_bytes,
    killAtCap: !streamed && !body.detach,
    keepOutput: body.detach,
  });
  live.running++;
  if (!body.detach) live.busy++;
  live.addExec(run);
  service.touch(live);
  service.events.publish(id, 'exec_started', { exec_id: run.id });
  run.result.then(
    (r) => service.events.publish(id, 'exec_ended', { exec_id: run.id, exit_code: r.exit_code, signal: r.signal, timed_out: r.timed_out }),
    (err: PaddockError) => service.events.publish(id, 'exec_ended', { exec_id: run.id, error: err.code }),
  ).finally(() => {
    live.running--;
    if (!body.detach) live.busy--;
    live.retain();
    service.touch(live);
  });
  return run;
}
