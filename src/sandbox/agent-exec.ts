import type { Limits } from '../config/schema.js';
import { constants } from 'node:os';
import type { AgentClient } from './agent/agent-client.js';
import { AgentError } from './agent/errors.js';
import type { ExecRequest as AgentExecRequest } from './agent/exec.js';
import type { ExecRequest, ExecResult, OutputSink } from './driver.js';
import { checkExecLimits } from './exec-limits.js';
import { MAX_WALL_MS } from './agent/protocol.js';
import { OutputCapture } from './output.js';

/** What a driver measures of the whole sandbox from outside it (a cgroup); null where it cannot tell. */
export interface HostAccounting {
  stats(): { cpuMs: number | null; maxRssKb: number | null; oomKilled: boolean };
}

export interface AgentExecOptions {
  limits: Limits;
  /** Host-side figures win over the agent's: the job cannot touch them. */
  accounting?: HostAccounting | undefined;
  /**
   * Set on the command's process by the agent before it execs (docs/agent-protocol.md), never on
   * the agent; the driver's, already tightened by the exec's own limits (exec-limits.ts).
   */
  rlimits?: AgentExecRequest['rlimits'];
  /**
   * The agent's connection failed under the command (the sandbox died). Says whether the
   * sandbox's memory limit killed it (then the command ended `memory`, not the driver);
   * asked after the fact, because a dead container's cgroup can no longer be read.
   */
  diedOfMemory?: () => Promise<boolean>;
  cpuPollMs?: number;
}

/**
 * Runs one command of a job through the sandbox's agent and answers in the shape
 * every driver gives a job: output capped at `output_bytes` per stream (past it the
 * process group is killed and the limit is `output`), CPU bounded by the whole
 * sandbox's CPU time when the driver accounts for it, aborts (timeout, cancel,
 * shutdown) kill the process group and are reported as `aborted`. The exec's own limits
 * (`req.limits`) tighten the output cap and the CPU watchdog and set the agent's wall timer;
 * `proc` is the agent's own wait4 figures of the command whenever it answered.
 */
export async function execOnAgent(
  agent: AgentClient,
  req: ExecRequest,
  sink: OutputSink,
  signal: AbortSignal,
  o: AgentExecOptions,
): Promise<ExecResult> {
  const started = performance.now();
  const own = checkExecLimits(req.limits);
  const outputCap = Math.min(o.limits.output_bytes, own?.outputBytes ?? Infinity);
  const cpuCap = Math.min(o.limits.cpu_ms, own?.cpuMs ?? Infinity);
  const stdout = new OutputCapture(outputCap);
  const stderr = new OutputCapture(outputCap);
  let aborted: string | undefined;
  let limit: ExecResult['limit'];
  const before = o.accounting?.stats();
  const cpuBefore = before?.cpuMs ?? 0;

  const take = (name: 'stdout' | 'stderr', capture: OutputCapture) => (chunk: Buffer) => {
    if (limit === 'output') return;
    const kept = capture.push(chunk);
    if (kept.length) sink(name, kept);
    if (capture.truncated) {
      limit = 'output';
      handle.cancel();
    }
  };
  const handle = agent.exec(
    {
      argv: req.argv,
      env: req.env,
      cwd: req.cwd,
      stdin: req.stdin !== undefined && req.stdin.length > 0,
      rlimits: o.rlimits,
      wallMs: own?.wallMs === undefined ? undefined : Math.min(own.wallMs, MAX_WALL_MS),
      killOnExit: req.killOnExit,
    },
    { onStdout: take('stdout', stdout), onStderr: take('stderr', stderr) },
  );
  if (handle.stdin) {
    handle.stdin.on('error', () => undefined);
    handle.stdin.end(req.stdin);
  }
  const onAbort = () => {
    if (aborted || limit) return;
    aborted = String(signal.reason ?? 'aborted');
    handle.cancel();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });

  // RLIMIT_CPU bounds each process; the sandbox's CPU time bounds the tree, so work
  // spread over many short-lived processes cannot dodge cpu_ms.
  // The last figures read, for a sandbox that dies under the command (its cgroup goes with it).
  let lastCpuMs: number | null = null;
  let lastRssKb = before?.maxRssKb ?? null;
  // The memory limit killed something during the command: if the sandbox then dies, that was it.
  let oomSeen = false;
  const watchdog = o.accounting
    ? setInterval(() => {
        const { cpuMs, maxRssKb, oomKilled } = o.accounting!.stats();
        if (cpuMs !== null) lastCpuMs = cpuMs;
        if (maxRssKb !== null) lastRssKb = maxRssKb;
        oomSeen ||= oomKilled;
        if (limit || aborted || cpuMs === null || cpuMs - cpuBefore < cpuCap) return;
        limit = 'cpu';
        handle.cancel();
      }, o.cpuPollMs ?? 100)
    : undefined;

  try {
    let proc: ExecResult['proc'];
    const r: { exitCode: number | null; signal: string | null; cpuMs: number | null; maxRssKb: number | null; killed?: string | null } = await handle.result.then((a) => {
      proc = { cpuMs: a.cpuMs, maxRssKb: a.maxRssKb, wallMs: a.wallMs };
      return a;
    }, async (err: unknown) => {
      // The sandbox died under the command. When it was being stopped anyway (a limit, an
      // abort: the driver may kill a sandbox whose agent does not answer) or its memory limit
      // killed it, that is how the command ended; anything else is the driver's failure.
      // An agent's ERROR (the command could not start: not found, no process left under the
      // job's pids) is an answer, not a death: diedOfMemory may wait for a death that never comes.
      const died = !(err instanceof AgentError);
      if (!limit && !aborted && died && (oomSeen || (await o.diedOfMemory?.().catch(() => false)))) limit = 'memory';
      if (!limit && !aborted) throw err;
      return { exitCode: null, signal: 'SIGKILL', cpuMs: lastCpuMs === null ? null : lastCpuMs - cpuBefore, maxRssKb: lastRssKb };
    });
    const host = o.accounting?.stats();
    const signalName = r.signal;
    if (!limit && host?.oomKilled) limit = 'memory';
    if (!limit && r.killed === 'wall') limit = 'wall';
    if (!limit && signalName === 'SIGXCPU') limit = 'cpu';
    // Only an exec's own file size limit: a job's results know cpu, memory and output only, and
    // the sandbox's fsize (disk_mb) ends a job as before.
    if (!limit && signalName === 'SIGXFSZ' && own?.fileSizeBytes !== undefined) limit = 'file_size';
    return {
      // As bwrap and shells report it: killed by signal N is exit code 128+N.
      exitCode: signalName ? 128 + signalNumber(signalName) : r.exitCode,
      signal: signalName,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      wallMs: Math.round(performance.now() - started),
      cpuMs: host?.cpuMs != null ? host.cpuMs - cpuBefore : r.cpuMs,
      maxRssKb: host?.maxRssKb ?? r.maxRssKb,
      proc,
      limit,
      aborted: limit ? undefined : aborted,
    };
  } finally {
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
  }
}

function signalNumber(name: string): number {
  return (constants.signals as Record<string, number>)[name] ?? 0;
}

/**
 * After an abort the agent kills the command's group; a sandbox whose agent has not answered
 * `graceMs` later is hung, and `kill` ends it — unless it is paused (it cannot answer until it
 * is resumed), then the wait starts again. Returns the disposer for the exec's `finally`.
 */
export function watchAbort(signal: AbortSignal, o: { graceMs: number; paused: () => boolean; kill: () => void }): () => void {
  let grace: NodeJS.Timeout | undefined;
  const arm = () => {
    grace = setTimeout(() => (o.paused() ? arm() : o.kill()), o.graceMs);
  };
  const onAbort = () => {
    if (!grace) arm();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    clearTimeout(grace);
    signal.removeEventListener('abort', onAbort);
  };
}
