import type Dockerode from 'dockerode';
import type { Limits } from '../../config/schema.js';
import type { Logger } from '../../util/log.js';
import { within } from '../../util/within.js';
import { AgentClient } from '../agent/agent-client.js';
import type { UidRange } from '../uid-range.js';
import { attachAgent, type LogContext } from './agent-attach.js';
import { containerCreateOptions, sandboxLabels } from './container-spec.js';
import { startFailure } from './failures.js';
import { LABELS } from './labels.js';
import type { PoolKey } from './pool-key.js';

/** How long a started container's agent has to say HELLO (gVisor under load is the slow case). */
const HELLO_TIMEOUT_MS = 15_000;

/** How long a discarded container has to stop by itself before it is removed by force. */
export const EXIT_GRACE_MS = 5_000;

/** A started container, the uid it owns, and the session with the agent that said HELLO in it. */
export interface Box {
  container: Dockerode.Container;
  uid: number;
  agent: AgentClient;
  /** Its log lines' context; the driver names the sandbox when it hands the box out. */
  ctx: LogContext;
}

export interface ContainersOptions {
  docker: Dockerode;
  uids: UidRange;
  runner: string;
  host: string;
  runtime: 'runc' | 'runsc';
  /** The limits the driver's probe started a container with (see failures.ts). */
  defaults: Limits;
  /** The egress firewall, which holds rules per container until it is removed. */
  egress: { release(containerId: string): Promise<void> } | undefined;
  /** Host path of the agent binary, bind-mounted into every container. */
  agentPath: string;
  log: Logger;
}

/**
 * Containers of this runner whose ids nothing here holds, created before
 * `settledS` (Unix seconds): a younger one may be created but not yet recorded.
 */
export function strangers(
  list: Dockerode.ContainerInfo[],
  o: { runner: string; live: { has(id: string): boolean }; settledS: number },
): Dockerode.ContainerInfo[] {
  return list.filter((c) => !o.live.has(c.Id) && c.Labels[LABELS.runner] === o.runner && c.Created <= o.settledS);
}

/**
 * The containers one driver owns, from creation to removal: each holds a uid
 * of the shared range from before it is created until it (and every process
 * of it) is gone, and whatever of this runner is left over is reaped.
 */
export class Containers {
  /** Containers created here and not removed yet, with the uid each holds. */
  private readonly live = new Map<string, number>();
  private readonly removals = new Set<Promise<void>>();

  constructor(private readonly o: ContainersOptions) {}

  /**
   * Creates a container, attaches to it, starts it and waits for its agent's HELLO;
   * `egressNetwork` is the firewalled bridge an `egress` one joins.
   */
  async start(k: PoolKey, label: { job?: string; pool?: string }, egressNetwork: string | undefined): Promise<Box> {
    const uid = this.o.uids.take();
    let container: Dockerode.Container;
    try {
      container = await this.o.docker.createContainer(
        containerCreateOptions({
          image: k.image,
          runtime: this.o.runtime,
          limits: k.limits,
          network: k.network,
          egressNetwork,
          uid,
          agentPath: this.o.agentPath,
          labels: sandboxLabels({ runner: this.o.runner, host: this.o.host, ...label }),
        }),
      );
    } catch (err) {
      this.o.uids.release(uid);
      throw startFailure((err as Error).message, k.limits, this.o.defaults);
    }
    this.live.set(container.id, uid);
    const ctx: LogContext = { containerId: container.id.slice(0, 12), ...(label.job ? { sandboxId: label.job } : {}) };
    let agent: AgentClient | undefined;
    try {
      const transport = await attachAgent(container, this.o.log, ctx);
      const hello = AgentClient.connect(transport, { helloTimeoutMs: HELLO_TIMEOUT_MS });
      hello.catch(() => undefined); // a failed start is reported below, not as an unhandled rejection
      await container.start();
      agent = await hello;
    } catch (err) {
      // The agent is gone before its HELLO: a container that died at once says why in its state.
      const state = await container.inspect().then((i) => i.State, () => undefined);
      await this.remove(container);
      const why = state && !state.Running ? `${(err as Error).message} (the container exited with status ${state.ExitCode}${state.OOMKilled ? ', out of memory' : ''})` : (err as Error).message;
      throw startFailure(why, k.limits, this.o.defaults);
    }
    return { container, uid, agent, ctx };
  }

  /**
   * Closes the agent session and removes the container, off the caller's path. Closing the
   * session ends the agent's stdin (StdinOnce): as PID 1 it kills what is left and exits, and the
   * container stops by itself; only then is it removed, or after EXIT_GRACE_MS anyway.
   * Why not at once: on gVisor, `docker rm -f` of a container whose sentry still tears down a
   * fork storm's host stubs stalled the containerd shim for 64 s (1 in 5 tries, Dec 2026), which
   * held the job's uid and the runner's close that long; a sandbox that exits by itself did not.
   */
  discard(box: Box): void {
    box.agent.close();
    this.removeLater(box.container, EXIT_GRACE_MS);
  }

  /** Removal is off the job's path; settled() waits for what is still under way. */
  removeLater(container: Dockerode.Container, graceMs = 0): void {
    const removal = (async () => {
      // A paused or hung container never stops by itself: the wait is bounded.
      if (graceMs > 0) await within(container.wait({ condition: 'not-running' }).catch(() => undefined), graceMs, undefined);
      await this.remove(container);
    })().finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  async remove(container: Dockerode.Container): Promise<void> {
    const uid = this.live.get(container.id);
    this.live.delete(container.id);
    await container.remove({ force: true, v: true }).catch(() => undefined);
    await this.o.egress?.release(container.id);
    // Freed once the container (and every process of it) is gone.
    if (uid !== undefined) this.o.uids.release(uid);
  }

  /** Resolves once every removal started by removeLater has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.removals]);
  }

  /** Removes containers of this runner that nothing here owns (after a crash, or leaked). */
  async reapOrphans(minAgeS: number): Promise<number> {
    const { docker, runner, runtime } = this.o;
    let list: Dockerode.ContainerInfo[];
    try {
      list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.runner}=${runner}`] } });
    } catch {
      return 0; // no engine, nothing to reap
    }
    const mine = strangers(list, { runner, live: this.live, settledS: Date.now() / 1000 - minAgeS });
    // Both drivers share the runner label; each reaps only containers of its runtime.
    const ours = [];
    for (const c of mine) {
      const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
      if (info && (info.HostConfig.Runtime ?? 'runc') === runtime) ours.push(c.Id);
    }
    await Promise.all(ours.map((id) => docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined)));
    return ours.length;
  }
}
