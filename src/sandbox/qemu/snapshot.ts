import { readFile, stat, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import type { AgentClient } from '../agent/agent-client.js';
import type { Qmp } from './qmp.js';
import type { VmPlan } from './vm.js';

/** A memory snapshot's files, in its own dir. */
export const SNAPSHOT_MEMORY = 'memory';
export const SNAPSHOT_META = 'vm.json';
/** The migration's rate cap: QEMU's default (32 MiB/s) would take seconds for a 256 MiB guest. */
const MIGRATE_BYTES_PER_S = 10 * 1024 ** 3;
const MIGRATE_TIMEOUT_MS = 120_000;
/** Paths that go into an `exec:` migration URI, which QEMU runs with sh: nothing a shell would read. */
const SHELL_SAFE = /^[A-Za-z0-9_./-]+$/;

/** What a restore needs to start the identical VM: QEMU checks only -m, so every device must match. */
export interface VmSnapshotMeta {
  version: 1;
  plan: Pick<VmPlan, 'boot' | 'memoryMb' | 'cpus' | 'accel' | 'agentArgs' | 'nic'>;
  /** The disk layer the snapshot froze (layers.ts keeps it while the snapshot is pinned). */
  disk: string;
  created_at: string;
  memory_bytes: number;
}

export function shellSafe(p: string): string {
  if (!SHELL_SAFE.test(p)) throw new PaddockError('internal', `path ${JSON.stringify(p)} cannot go into a migration URI`);
  return p;
}

/**
 * Snapshots a running VM into `dest` (an empty dir), memory included: the guest is stopped; its
 * disk's top layer is frozen (`blockdev-snapshot-sync` puts `nextTop` above it, which the VM writes
 * from then on); its memory and device state go to `dest/memory` (a migration to `cat`); then it
 * runs on.
 * The runner's side of the agent connection is drained (a PONG) and corked throughout, so no
 * half-sent frame is inside the snapshot; what the guest had in flight the restore skips.
 */
export async function snapshotVm(
  vm: { plan: VmPlan; qmp: Qmp },
  conn: { agent: AgentClient; socket: Socket },
  top: string,
  nextTop: string,
  dest: string,
  opts: { paused: boolean },
): Promise<VmSnapshotMeta> {
  const { qmp } = vm;
  const memory = shellSafe(path.join(dest, SNAPSHOT_MEMORY));
  if (!opts.paused) await conn.agent.ping();
  conn.socket.cork();
  let stopped = false;
  try {
    if (!opts.paused) {
      await qmp.execute('stop');
      stopped = true;
    }
    await qmp.execute('blockdev-snapshot-sync', { device: 'root', 'snapshot-file': nextTop, format: 'qcow2' });
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': MIGRATE_BYTES_PER_S });
    await qmp.execute('migrate', { uri: `exec:cat > ${memory}` });
    await migrationDone(qmp);
  } finally {
    if (stopped) await qmp.execute('cont').catch(() => undefined);
    conn.socket.uncork();
  }
  const meta: VmSnapshotMeta = {
    version: 1,
    plan: { boot: vm.plan.boot, memoryMb: vm.plan.memoryMb, cpus: vm.plan.cpus, accel: vm.plan.accel, agentArgs: vm.plan.agentArgs, nic: vm.plan.nic },
    disk: top,
    created_at: new Date().toISOString(),
    memory_bytes: (await stat(memory)).size,
  };
  await writeFile(path.join(dest, SNAPSHOT_META), JSON.stringify(meta));
  return meta;
}

async function migrationDone(qmp: Qmp): Promise<void> {
  const deadline = Date.now() + MIGRATE_TIMEOUT_MS;
  for (;;) {
    const info = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new PaddockError('driver_error', `QEMU could not save the VM's memory: ${info['error-desc'] ?? info.status}`);
    }
    if (Date.now() > deadline) {
      await qmp.execute('migrate_cancel').catch(() => undefined);
      throw new PaddockError('driver_error', `saving the VM's memory took over ${MIGRATE_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Waits until a VM started with -incoming has loaded its state, and starts it: it comes up in the
 * state the snapshot recorded, which is stopped (snapshotVm stops the guest first).
 */
export async function incomingDone(qmp: Qmp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await qmp.execute('query-status')) as { status?: string };
    if (s.status === 'running') return;
    if (s.status === 'paused') {
      await qmp.execute('cont');
      continue;
    }
    if (s.status !== 'inmigrate' && s.status !== 'prelaunch') {
      throw new PaddockError('driver_error', `the VM did not restore its snapshot (QEMU status ${s.status})`);
    }
    if (Date.now() > deadline) throw new PaddockError('driver_error', `restoring the snapshot took over ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 3));
  }
}

export async function readSnapshotMeta(dir: string): Promise<VmSnapshotMeta> {
  const meta = JSON.parse(await readFile(path.join(dir, SNAPSHOT_META), 'utf8')) as VmSnapshotMeta;
  if (meta.version !== 1) throw new PaddockError('driver_error', `snapshot ${dir} is of an unknown version`);
  return meta;
}
