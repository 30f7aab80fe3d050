import type Dockerode from 'dockerode';
import { PaddockError } from '../../errors.js';
import { within } from '../../util/within.js';
import type { AgentClient } from '../agent/agent-client.js';
import { execOnAgent, type HostAccounting } from '../agent-exec.js';
import { perExecRlimits, tightenRlimits } from '../exec-limits.js';
import type { ExecRequest, ExecResult, OutputSink, Sandbox, SandboxSpec } from '../driver.js';
import { assertUsable, writeInputFiles } from '../inputs.js';
import { containerCgroupStats } from './cgroup-stats.js';
import type { Box } from './containers.js';

/** Files Paddock itself hands a job (e.g. a script too long for argv) go here, not under /work. */
/** An aborted command whose agent has not answered by then (a hung or frozen sandbox): the container is killed. */
const ABORT_GRACE_MS = 3000;
/** How long a sandbox whose agent is gone gets to show why in its container state. */
const DEATH_SETTLE_MS = 2000;

/**
 * A started container whose agent (PID 1) runs every command of the sandbox: any number of
 * execs, also at once, until `destroy` removes the container. The job's end, exit status and
 * output come over the agent's channel, which the job can neither read nor write (the agent
 * is another process it cannot ptrace, read or signal; docs/agent-protocol.md); CPU time,
 * peak memory and OOM kills come from the container's cgroup.
 */
export class DockerSandbox implements Sandbox {
  readonly agent: AgentClient;
  readonly died: Promise<string>;
  private destroyed = false;
  private paused = false;
  /** Set once the agent is gone, with why (refined once the container's state says more). */
  private death: string | undefined;
  /** Settles once the agent is gone, whatever the cause (destroy included). */
  private readonly end: Promise<{ why: string; oom: boolean }>;
  private inputs: Promise<void> | undefined;
  /** Its memory cgroup's OOM kills when the last exec began (one inside a command is that command's). */
  private oomKillsBefore = 0;
  /** Why Paddock itself killed the container, when it did. */
  private killed: string | undefined;
  private readonly container: Dockerode.Container;

  constructor(
    readonly id: string,
    box: Box,
    private readonly spec: SandboxSpec,
    private readonly release: () => void,
  ) {
    this.container = box.container;
    this.agent = box.agent;
    this.end = box.agent.session.closed.then(async (err) => {
      this.death = err.message; // at once: an exec from now on fails, whatever the state says
      // Read before anything is awaited: the cgroup goes soon after the container.
      const oomKills = containerCgroupStats(this.container.id).oomKills;
      // Destroyed: nobody asks why, so the Engine is not asked either.
      if (this.destroyed) return { why: 'destroyed', oom: false };
      // A protocol error is the reason itself; the container stops because the runner let go of its agent.
      const end = err.code === 'agent_protocol_error' ? { why: err.message, oom: false } : await this.whyDead(err.message, oomKills);
      this.death = end.why;
      return end;
    });
    this.died = this.end.then((e) => (this.destroyed ? new Promise<string>(() => undefined) : e.why));
  }

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    this.usable();
    if (this.paused) throw new PaddockError('conflict', `sandbox ${this.id} is paused`);
    await this.writeInputs();
    const oomBefore = containerCgroupStats(this.container.id).oomKills ?? 0;
    this.oomKillsBefore = oomBefore;
    const accounting: HostAccounting = {
      stats: () => {
        const s = containerCgroupStats(this.container.id);
        return {
          cpuMs: s.cpuNs === null ? null : s.cpuNs / 1e6,
          maxRssKb: s.maxMemBytes === null ? null : Math.round(s.maxMemBytes / 1024),
          oomKilled: (s.oomKills ?? 0) > oomBefore,
        };
      },
    };
    // The agent kills the command's group on an abort; one that cannot answer loses its container,
    // and if even that does not end the channel (a sentry that hangs), the runner lets go of it.
    // A paused sandbox cannot answer until it is resumed (or destroyed): that is not a hang.
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      const expire = () => {
        if (this.paused) return void (grace = setTimeout(expire, ABORT_GRACE_MS));
        this.killed = `its agent did not answer an abort within ${ABORT_GRACE_MS} ms, so Paddock killed the container`;
        void this.container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        grace = setTimeout(() => this.agent.close(), ABORT_GRACE_MS);
      };
      grace ??= setTimeout(expire, ABORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    // nproc on every command (on runc the container's Ulimits have it too): RLIMIT_NPROC counts the
    // tasks of the job's uid, the container's own, so whatever the job forks stops at `pids` and the
    // pids cgroup's room above it stays the agent's (container-spec.ts AGENT_PIDS).
    const rlimits = tightenRlimits({ nproc: this.spec.limits.pids }, perExecRlimits(req.limits, this.spec.limits));
    try {
      const r = await execOnAgent(this.agent, req, sink, signal, {
        limits: this.spec.limits,
        accounting,
        // The container's Ulimits (cpu, nofile, core) bind the sandbox as a whole; these, never looser
        // than the sandbox's, stay within them.
        rlimits,
        diedOfMemory: async () => (await this.end).oom,
      });
      return { ...r, cpuMs: r.cpuMs === null ? null : Math.round(r.cpuMs) };
    } catch (err) {
      throw await this.failure(err);
    } finally {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Freezes every process of the container (the Engine's cgroup freezer); execs fail with `conflict` until resume. */
  async pause(): Promise<void> {
    this.usable();
    if (this.paused) return;
    await this.container.pause().catch((err) => {
      throw new PaddockError('driver_error', `cannot pause sandbox ${this.id}: ${(err as Error).message}`);
    });
    this.paused = true;
  }

  async resume(): Promise<void> {
    this.usable();
    if (!this.paused) return;
    await this.container.unpause().catch((err) => {
      throw new PaddockError('driver_error', `cannot resume sandbox ${this.id}: ${(err as Error).message}`);
    });
    this.paused = false;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.release();
  }

  private usable(): void {
    assertUsable(this.id, this.destroyed, this.death);
  }

  /** The spec's files, written by the agent before the first command runs (once, whatever runs at once). */
  private writeInputs(): Promise<void> {
    this.inputs ??= writeInputFiles(this.agent, this.spec.files, { parallel: true });
    return this.inputs.catch(async (err: unknown) => {
      throw await this.failure(err);
    });
  }

  /** A lost agent connection is the driver's failure, named by what happened to the container. */
  private async failure(err: unknown): Promise<unknown> {
    if (!(err instanceof PaddockError) || (err.code !== 'agent_died' && err.code !== 'agent_protocol_error')) return err;
    const { why } = await this.end;
    if (this.destroyed) return new PaddockError('driver_error', `sandbox ${this.id} was destroyed under the command`);
    return new PaddockError('driver_error', `the sandbox died under the command: ${why}`, undefined, { cause: err });
  }

  /**
   * Why the agent is gone, from the container's state once it has stopped (or after a short wait).
   * `oomKills`: its memory cgroup's OOM kills when the agent's connection ended. More of them than
   * when the last exec began is the memory limit, even when Docker's OOMKilled says no: on gVisor
   * the kernel's OOM killer may pick the sentry itself, and the flag can be set after we look.
   */
  private async whyDead(lost: string, oomKills: number | null): Promise<{ why: string; oom: boolean }> {
    if (this.killed) return { why: this.killed, oom: false };
    const stopped = await within(this.container.wait().then(() => true, () => false), DEATH_SETTLE_MS, false);
    const state = await within(this.container.inspect().then((i) => i.State, () => undefined), DEATH_SETTLE_MS, undefined);
    const memory = { why: `the container ran out of memory (limits.memory_mb ${this.spec.limits.memory_mb})`, oom: true };
    if ((oomKills ?? 0) > this.oomKillsBefore) return memory;
    if (!state) return { why: `${lost}; the Docker Engine does not answer for the container`, oom: false };
    if (state.OOMKilled) return memory;
    if (stopped || !state.Running) {
      // The agent is PID 1 and another user than the job: nothing inside can kill it, so a signal came from outside.
      const how = state.ExitCode > 128 ? ` (signal ${state.ExitCode - 128}, from outside Paddock)` : '';
      return { why: `the container stopped with status ${state.ExitCode}${how}; ${lost}`, oom: false };
    }
    return { why: lost, oom: false };
  }
}
