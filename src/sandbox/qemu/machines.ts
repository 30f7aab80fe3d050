import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { QemuConfig } from '../../config/qemu.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { AgentClient } from '../agent/agent-client.js';
import { createOverlay } from './disk.js';
import type { Layers } from './layers.js';
import type { VmAttachment, VmNetwork } from './network.js';
import { incomingDone, readSnapshotMeta, shellSafe, SNAPSHOT_MEMORY, SNAPSHOT_META, snapshotVm, type VmSnapshotMeta } from './snapshot.js';
import { PID_FILE, QemuVm, type VmPlan } from './vm.js';

/** Warm-start templates kept (each a booted guest's memory, tens of MiB). */
const MAX_TEMPLATES = 8;

export type PlanFn = (dir: string, disk: string) => Promise<VmPlan>;

/** A running VM with its agent connection, not yet (or never) a sandbox. */
export interface Booted {
  vmId: string;
  dir: string;
  vm: QemuVm;
  conn: { agent: AgentClient; socket: Socket };
  disk: string;
  /** Its disk's top layer, held while it runs. */
  top: string;
  /** Its namespace on the VM bridge (a VM with a NIC). */
  net?: VmAttachment | undefined;
}

/**
 * The qemu driver's VMs below the sandbox level: starting one (its dir under `vms/`, its disk layer),
 * restoring one from a snapshot, the warm-start templates (`templates/<key>`), removing what a VM
 * leaves, and the reaper.
 */
export class Machines {
  private readonly templates = new Map<string, Promise<string>>();

  constructor(
    private readonly vmRoot: string,
    readonly layers: Layers,
    private readonly qemu: Pick<QemuConfig, 'binary' | 'boot_timeout_ms'>,
    private readonly log: Logger,
    private readonly net?: VmNetwork,
  ) {}

  /** The template being made for `key` now, if one is. */
  making(key: string): Promise<string> | undefined {
    return this.templates.get(key);
  }

  templateDir(key: string): string {
    return path.join(this.vmRoot, 'templates', key);
  }

  restorePlan(meta: VmSnapshotMeta, snapshotDir: string): PlanFn {
    const memory = shellSafe(path.join(snapshotDir, SNAPSHOT_MEMORY));
    return async (dir, disk) => {
      await createOverlay(meta.disk, disk, 'qcow2');
      return { ...meta.plan, dir, disk, incoming: `exec:cat ${memory}` };
    };
  }

  /**
   * The warm-start template of `key`: a VM booted once, its agent up and idle, snapshotted with its
   * memory into `templates/<key>` (kept across restarts; the newest MAX_TEMPLATES stay). Made once
   * per key however many ask at once.
   */
  template(key: string, plan: PlanFn): Promise<string> {
    const dir = this.templateDir(key);
    let made = this.templates.get(key);
    if (!made) {
      made = (async () => {
        if (existsSync(path.join(dir, SNAPSHOT_META))) return dir;
        const vmId = `tpl_${key}_${process.pid}`;
        const booted = await this.boot(vmId, plan);
        const tmp = `${dir}.tmp-${process.pid}`;
        const next = this.layers.path(vmId, 1);
        this.layers.hold(next);
        try {
          await rm(tmp, { recursive: true, force: true });
          await mkdir(tmp, { recursive: true, mode: 0o700 });
          await snapshotVm({ plan: booted.vm.plan, qmp: booted.vm.qmp! }, booted.conn, booted.disk, next, tmp, { paused: false });
          await rename(tmp, dir);
          const meta = await readSnapshotMeta(dir);
          await this.layers.pin(dir, meta.disk);
          return dir;
        } finally {
          // Both layers go with the template VM; the frozen one stays as long as the template's pin.
          this.layers.release(booted.disk);
          booted.top = next;
          await this.dispose(booted);
          await rm(tmp, { recursive: true, force: true });
          await this.pruneTemplates();
        }
      })().finally(() => this.templates.delete(key));
      this.templates.set(key, made);
    }
    return made;
  }

  private async pruneTemplates(): Promise<void> {
    const root = path.join(this.vmRoot, 'templates');
    const dirs = (await readdir(root).catch(() => [] as string[])).filter((n) => !n.includes('.tmp-'));
    if (dirs.length <= MAX_TEMPLATES) return;
    const aged = await Promise.all(dirs.map(async (n) => ({ n, at: (await stat(path.join(root, n))).mtimeMs })));
    for (const { n } of aged.sort((a, b) => a.at - b.at).slice(0, dirs.length - MAX_TEMPLATES)) {
      await rm(path.join(root, n), { recursive: true, force: true });
    }
  }

  /**
   * Starts a VM named `vmId` (its dir, its disk layers) and connects to its agent. `offline`: a NIC
   * in its plan goes to a namespace that leads nowhere.
   */
  async boot(vmId: string, plan: PlanFn, opts: { offline?: boolean } = {}): Promise<Booted> {
    const dir = path.join(this.vmRoot, 'vms', vmId);
    await this.layers.init();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const disk = this.layers.path(vmId, 0);
    this.layers.hold(disk);
    let vm: QemuVm | undefined;
    try {
      const p = await plan(dir, disk);
      const timeout = this.qemu.boot_timeout_ms;
      if (p.nic && !this.net) throw new PaddockError('driver_unavailable', 'this VM has a NIC but the qemu driver has no egress network');
      // A VM's namespace is named by its dir, so releasing the dir finds it.
      const net = p.nic ? await this.net!.attach(vmId, opts) : undefined;
      vm = await QemuVm.start(p, this.qemu.binary, net?.netns);
      if (p.incoming) await incomingDone(vm.qmp!, timeout);
      const conn = await vm.connectAgent(timeout).catch((err: Error) => {
        throw new PaddockError('driver_error', `the VM did not start its agent: ${err.message}${vm!.isDead ? '' : vm!.consoleSummary()}`);
      });
      return { vmId, dir, vm, conn, disk, top: disk, net };
    } catch (err) {
      await this.dispose({ dir, vm, top: disk });
      throw err;
    }
  }

  /** Kills a VM that is no sandbox's (a template's, a pooled one's, a failed start) and removes its files. */
  async dispose(b: Pick<Booted, 'dir' | 'top'> & { vm?: QemuVm | undefined; conn?: Booted['conn'] }): Promise<void> {
    b.conn?.agent.close();
    b.vm?.kill();
    await b.vm?.exited;
    await this.releaseVm(b.dir, b.top);
  }

  async releaseVm(dir: string, top: string): Promise<void> {
    await this.net?.detach(path.basename(dir)).catch((err: Error) => this.log.warn({ err, dir }, 'removing a VM namespace failed'));
    await rm(dir, { recursive: true, force: true }).catch((err: Error) => this.log.warn({ err, dir }, 'removing a VM dir failed'));
    this.layers.release(top);
    await this.layers.gc().catch((err: Error) => this.log.warn({ err }, 'removing unused VM disk layers failed'));
  }

  /**
   * VMs a killed runner left: their QEMU died with it (PR_SET_PDEATHSIG), but not their dirs; a
   * QEMU still running from one (its pid file names a process whose command line names the dir)
   * is killed first.
   */
  async reapOrphans(): Promise<number> {
    const vms = path.join(this.vmRoot, 'vms');
    const entries = existsSync(vms) ? await readdir(vms) : [];
    let reaped = 0;
    for (const name of entries) {
      const dir = path.join(vms, name);
      const pid = Number((await readFile(path.join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 1) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(dir)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
      await rm(dir, { recursive: true, force: true });
      reaped++;
    }
    // Templates a killed runner was making.
    const templates = path.join(this.vmRoot, 'templates');
    for (const name of existsSync(templates) ? await readdir(templates) : []) {
      if (name.includes('.tmp-')) await rm(path.join(templates, name), { recursive: true, force: true });
    }
    // Their namespaces (and the bridge, if this process has not made its own yet).
    await this.net?.reap();
    // The layers of those VMs; snapshots' and templates' stay (pinned).
    await this.layers.gc().catch((err: Error) => this.log.warn({ err }, 'removing unused VM disk layers failed'));
    return reaped;
  }
}
