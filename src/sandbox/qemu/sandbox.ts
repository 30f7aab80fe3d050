import type { Socket } from 'node:net';
import { PaddockError } from '../../errors.js';
import type { AgentClient } from '../agent/agent-client.js';
import { execOnAgent, watchAbort } from '../agent-exec.js';
import { execRlimits } from '../bwrap/chain.js';
import { assertUsable, writeInputFiles } from '../inputs.js';
import type { ExecRequest, ExecResult, OutputSink, Sandbox, SandboxSpec } from '../driver.js';
import type { Layers } from './layers.js';
import { snapshotVm } from './snapshot.js';
import type { QemuVm } from './vm.js';

/** An aborted command whose agent has not answered by then (a hung guest): the VM is killed. */
const ABORT_GRACE_MS = 3000;

/**
 * A running microVM whose agent (the guest's init) runs every command of it. The guest's memory
 * is the sandbox's memory limit: the guest kernel's OOM killer ends the command (its oom_score_adj
 * is 1000, the agent's is not), and the guest's own OOM count says it was memory.
 */
export class QemuSandbox implements Sandbox {
  readonly died: Promise<string>;
  private destroyed = false;
  private paused = false;
  private death: string | undefined;
  private inputs: Promise<void> | undefined;
  /** The guest's OOM kills seen so far (its /proc/vmstat), so a new one is told from old ones. */
  private oomKills = 0;
  private killed: string | undefined;
  readonly agent: AgentClient;
  /** The agent connection's socket: corked while a snapshot is taken (snapshot.ts). */
  readonly socket: Socket;
  /** The disk layer the VM writes to: its overlay, then each snapshot's new one (layers.ts). */
  top: string;
  private layerSeq = 0;
  /** Snapshots one after another. */
  private snapshots: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    /** The name of the VM's dir and disk layers: the sandbox's id, or a pooled VM's own. */
    private readonly vmId: string,
    readonly vm: QemuVm,
    conn: { agent: AgentClient; socket: Socket },
    private readonly spec: SandboxSpec,
    private readonly layers: Layers,
    private readonly release: () => Promise<void>,
  ) {
    this.agent = conn.agent;
    this.socket = conn.socket;
    this.top = vm.plan.disk;
    const gone = vm.exited.then((why) => (this.death = this.killed ?? why));
    this.died = gone.then((why) => (this.destroyed ? new Promise<string>(() => undefined) : why));
    // A restored guest may remember OOM kills of the VM it was snapshotted from: those are not this one's.
    if (vm.plan.incoming) void this.newOomKill().catch(() => undefined);
  }

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    this.usable();
    if (this.paused) throw new PaddockError('conflict', `sandbox ${this.id} is paused`);
    await this.writeInputs();
    const unwatch = watchAbort(signal, {
      graceMs: ABORT_GRACE_MS,
      paused: () => this.paused,
      kill: () => {
        this.killed = `Paddock killed the VM: its agent did not answer an abort within ${ABORT_GRACE_MS} ms`;
        this.vm.kill();
      },
    });
    try {
      const env = 'PWD' in req.env ? req.env : { ...req.env, PWD: req.cwd };
      const r = await execOnAgent(this.agent, { ...req, env }, sink, signal, {
        limits: this.spec.limits,
        // The guest's memory bounds the whole tree, as a cgroup would: no RLIMIT_AS.
        rlimits: execRlimits(this.spec.limits, true, req.limits),
        diedOfMemory: () => this.newOomKill(),
      });
      // SIGKILL from inside the guest and a new OOM kill there: the memory limit ended it.
      if (r.signal === 'SIGKILL' && !r.limit && !r.aborted && (await this.newOomKill().catch(() => false))) return { ...r, limit: 'memory' };
      return r;
    } catch (err) {
      throw await this.failure(err);
    } finally {
      unwatch();
    }
  }

  private async newOomKill(): Promise<boolean> {
    const read = await this.agent.readFile('/proc/vmstat', { length: 64 * 1024 });
    const chunks: Buffer[] = [];
    for await (const c of read.stream) chunks.push(c as Buffer);
    const vmstat = Buffer.concat(chunks).toString();
    const n = Number(/^oom_kill (\d+)$/m.exec(vmstat)?.[1] ?? 0);
    const fresh = n > this.oomKills;
    this.oomKills = Math.max(this.oomKills, n);
    return fresh;
  }

  /**
   * Saves the VM's memory, devices and disk into `dir` (snapshot.ts); the VM runs on. Execs in
   * flight go on in this VM; a VM restored from the snapshot starts a new agent connection, and
   * has every process the VM had but not those execs' streams.
   */
  async snapshotMemory(dir: string): Promise<void> {
    this.usable();
    const qmp = this.vm.qmp;
    if (!qmp) throw new PaddockError('driver_error', `sandbox ${this.id} has no QMP connection`);
    const run = this.snapshots.then(async () => {
      this.usable();
      const next = this.layers.path(this.vmId, ++this.layerSeq);
      this.layers.hold(next);
      let switched = false;
      try {
        const meta = await snapshotVm({ plan: this.vm.plan, qmp }, this, this.top, next, dir, { paused: this.paused });
        switched = true;
        await this.layers.pin(dir, meta.disk);
      } catch (err) {
        // A failure after blockdev-snapshot-sync leaves the VM on the new layer: ask QEMU which it writes.
        const blocks = (await qmp.execute('query-block').catch(() => [])) as { device?: string; inserted?: { file?: string } }[];
        switched = blocks.some((b) => b.device === 'root' && b.inserted?.file === next);
        throw err;
      } finally {
        // The layer the VM writes is held; the one below it, frozen, is held through it (and the snapshot's pin).
        const old = switched ? this.top : next;
        if (switched) this.top = next;
        this.layers.release(old);
      }
    });
    this.snapshots = run.catch(() => undefined);
    await run;
  }

  /** Stops the guest's vCPUs (QMP `stop`): everything in it freezes, its clock too, until resume. */
  async pause(): Promise<void> {
    this.usable();
    if (this.paused) return;
    await this.qmp('stop');
    this.paused = true;
  }

  async resume(): Promise<void> {
    this.usable();
    if (!this.paused) return;
    await this.qmp('cont');
    this.paused = false;
  }

  private async qmp(command: string): Promise<void> {
    if (!this.vm.qmp) throw new PaddockError('driver_error', `sandbox ${this.id} has no QMP connection`);
    await this.vm.qmp.execute(command);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.agent.close();
    this.vm.kill();
    await this.vm.exited;
    await this.release();
  }

  private usable(): void {
    assertUsable(this.id, this.destroyed, this.death);
  }

  private writeInputs(): Promise<void> {
    this.inputs ??= writeInputFiles(this.agent, this.spec.files, { parallel: false });
    return this.inputs.catch(async (err: unknown) => {
      throw await this.failure(err);
    });
  }

  private async failure(err: unknown): Promise<unknown> {
    if (!(err instanceof PaddockError) || (err.code !== 'agent_died' && err.code !== 'agent_protocol_error')) return err;
    if (this.destroyed) return new PaddockError('driver_error', `sandbox ${this.id} was destroyed under the command`);
    const why = await Promise.race([this.vm.exited, new Promise<string>((r) => setTimeout(() => r(`the agent connection was lost${this.vm.consoleSummary()}`), 2000))]);
    return new PaddockError('driver_error', `the sandbox died under the command: ${this.killed ?? why}`, undefined, { cause: err });
  }
}
