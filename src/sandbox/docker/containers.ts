import type Dockerode from 'dockerode';
import type { Limits } from '../../config/schema.js';
import type { UidRange } from '../uid-range.js';
import { containerCreateOptions, sandboxLabels } from './container-spec.js';
import { startFailure } from './failures.js';
import type { ImageResolver } from './images.js';
import { LABELS } from './labels.js';
import type { LauncherKind } from './launch.js';
import type { PoolKey } from './pool-key.js';

/** A started container, the uid it owns and the launcher waiting in it. */
export interface Box {
  container: Dockerode.Container;
  uid: number;
  launcher: LauncherKind;
}

export interface ContainersOptions {
  docker: Dockerode;
  images: ImageResolver;
  uids: UidRange;
  runner: string;
  host: string;
  runtime: 'runc' | 'runsc';
  /** The limits the driver's probe started a container with (see failures.ts). */
  defaults: Limits;
  /** The egress firewall, which holds rules per container until it is removed. */
  egress: { release(containerId: string): Promise<void> } | undefined;
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

  /** Creates and starts one container; `egressNetwork` is the firewalled bridge an `egress` one joins. */
  async start(k: PoolKey, label: { job?: string; pool?: string }, egressNetwork: string | undefined): Promise<Box> {
    const { launcher } = await this.o.images.lookup(k.image);
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
          launcher,
          init: true,
          labels: sandboxLabels({ runner: this.o.runner, host: this.o.host, ...label }),
        }),
      );
    } catch (err) {
      this.o.uids.release(uid);
      throw startFailure((err as Error).message, k.limits, this.o.defaults);
    }
    this.live.set(container.id, uid);
    try {
      await container.start();
    } catch (err) {
      await this.remove(container);
      throw startFailure((err as Error).message, k.limits, this.o.defaults);
    }
    return { container, uid, launcher };
  }

  /** Removal is off the job's path; settled() waits for what is still under way. */
  removeLater(container: Dockerode.Container): void {
    const removal = this.remove(container).finally(() => this.removals.delete(removal));
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
