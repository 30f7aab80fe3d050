import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Principal } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { SnapshotRow } from '../store/ops/snapshots.js';
import type { DriverSet } from '../sandbox/registry.js';
import type { Store } from '../store/store.js';
import { treeSize } from '../images/tree.js';
import { newId } from '../util/ids.js';
import type { Logger } from '../util/log.js';
import { owns } from './live.js';
import type { SandboxService, SandboxTenant } from './service.js';
import { archiveSandbox, restoreSandbox } from './snapshot-archive.js';
import type { SandboxCreate } from './spec.js';

/** How long taking or restoring one snapshot may take. */
const ARCHIVE_TIMEOUT_MS = 10 * 60_000;

export interface ForkResult {
  /** What the forks started from: the source's files, or all of it (memory). */
  kind: SnapshotRow['kind'];
  sandboxes: Awaited<ReturnType<SandboxService['create']>>[];
  /** One per sandbox that could not be made, in order (the SDKs report them per item). */
  errors: PaddockError[];
}

/**
 * Snapshots of persistent sandboxes. On every driver, of files: the sandbox's writable dirs (/work,
 * /tmp) as a tar archive in the data dir, and new sandboxes made from one — the same image and spec
 * with the files unpacked before the sandbox is handed out (`kind: "filesystem"`). On a driver that
 * can (capabilities.snapshot `memory`: qemu), of everything, memory and processes included
 * (`kind: "memory"`): a dir the driver fills, and new sandboxes restored from it, running on from there.
 */
export class SandboxSnapshots {
  private readonly dir: string;
  /** Snapshots being taken per token, counted against `max_snapshots` before their row exists. */
  private readonly taking = new Map<string | null, number>();

  private readonly pruner: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { config: Config; store: Store; sandboxes: SandboxService; drivers: Pick<DriverSet, 'get'>; log: Logger },
  ) {
    this.dir = path.join(deps.config.data_dir, 'snapshots');
    if (deps.config.sandboxes.snapshot_max_age_ms > 0) {
      this.pruner = setInterval(() => void this.prune(), deps.config.retention.interval_ms);
      this.pruner.unref();
    }
  }

  /**
   * Deletes this runner's snapshots older than `sandboxes.snapshot_max_age_ms`, files and all,
   * a page at a time; one run at a time. Sandboxes restored from one run on (their disks stand on
   * the layers they hold, not on the snapshot).
   */
  private pruning: Promise<number> | undefined;
  prune(now = Date.now()): Promise<number> {
    const maxAge = this.deps.config.sandboxes.snapshot_max_age_ms;
    if (maxAge === 0) return Promise.resolve(0);
    this.pruning ??= (async () => {
      const cutoff = now - maxAge;
      let removed = 0;
      let before: string | undefined;
      for (;;) {
        const page = await this.deps.store.listSnapshots({ before, limit: 500 });
        for (const row of page.rows) {
          if (row.host_id !== this.deps.config.host_id || Date.parse(row.created_at) >= cutoff) continue;
          await this.deps.store.deleteSnapshot(row.id);
          await this.removeFiles(row.id);
          removed++;
        }
        if (!page.next) return removed;
        before = page.next;
      }
    })()
      .catch((err: unknown) => {
        this.deps.log.warn({ err }, 'pruning old snapshots failed');
        return 0;
      })
      .finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  close(): void {
    clearInterval(this.pruner);
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.tar`);
  }

  /** A memory snapshot is a dir the driver fills (its memory, devices, the disk layer it froze). */
  private memoryDir(id: string): string {
    return path.join(this.dir, id);
  }

  /** Archives a running sandbox of `p`'s; the snapshot belongs to the sandbox's owner. */
  async take(sandboxId: string, p: Principal | undefined, labels: Record<string, string> = {}): Promise<SnapshotRow> {
    const { config, store, sandboxes } = this.deps;
    const owner = (await sandboxes.get(sandboxId, p)).token_id;
    const count = (await store.countSnapshots(owner)) + (this.taking.get(owner) ?? 0);
    if (count >= config.sandboxes.max_snapshots) {
      throw new PaddockError('quota_exceeded', `at most ${config.sandboxes.max_snapshots} snapshots per token (sandboxes.max_snapshots)`, {
        quota: 'max_snapshots',
        limit: config.sandboxes.max_snapshots,
      });
    }
    this.taking.set(owner, (this.taking.get(owner) ?? 0) + 1);
    const id = newId('snap');
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      return await sandboxes.use(sandboxId, p, async (agent, live) => {
        const memory = live.sandbox.snapshotMemory && this.deps.drivers.get(live.row.driver)?.capabilities.snapshot === 'memory';
        const cap = config.sandboxes.snapshot_max_mb * 1024 * 1024;
        let size: number;
        if (memory) {
          // The guest's memory is bounded by its limits; the cap binds the saved state all the same.
          const dir = this.memoryDir(id);
          mkdirSync(dir, { mode: 0o700 });
          try {
            await live.sandbox.snapshotMemory!(dir);
            size = await treeSize(dir);
            if (size > cap) {
              throw new PaddockError('snapshot_too_large', `the sandbox's saved memory is ${size} bytes, more than ${cap} (sandboxes.snapshot_max_mb)`, { max_bytes: cap });
            }
          } catch (err) {
            await rm(dir, { recursive: true, force: true });
            throw err;
          }
        } else {
          size = await archiveSandbox(agent, this.file(id), cap, AbortSignal.timeout(ARCHIVE_TIMEOUT_MS));
        }
        try {
          return await store.insertSnapshot({
            id,
            token_id: live.row.token_id,
            sandbox_id: live.id,
            kind: memory ? 'memory' : 'filesystem',
            driver: live.row.driver,
            image: live.row.image,
            spec: live.row.spec,
            labels,
            size_bytes: size,
            host_id: config.host_id,
            created_at: new Date().toISOString(),
          });
        } catch (err) {
          await this.removeFiles(id);
          throw err;
        }
      });
    } finally {
      const left = (this.taking.get(owner) ?? 1) - 1;
      if (left > 0) this.taking.set(owner, left);
      else this.taking.delete(owner);
    }
  }

  /** A snapshot of `p`'s; someone else's is the same `404` as a missing one. */
  async get(id: string, p: Principal | undefined): Promise<SnapshotRow> {
    const row = await this.deps.store.getSnapshot(id);
    if (!row || !owns(p, row)) throw new PaddockError('not_found', `no snapshot ${id}`);
    if (row.host_id !== this.deps.config.host_id) {
      throw new PaddockError('not_found', `snapshot ${id} is kept on runner ${row.host_id}, not this one`, { host_id: row.host_id });
    }
    return row;
  }

  async delete(id: string, p: Principal | undefined): Promise<void> {
    const row = await this.get(id, p);
    await this.deps.store.deleteSnapshot(row.id);
    await this.removeFiles(row.id);
  }

  private async removeFiles(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
    await rm(this.memoryDir(id), { recursive: true, force: true });
  }

  /**
   * Creates a sandbox from a snapshot: the image its source asked for unless the request names its own
   * (env is merged, the request's winning), its files unpacked before anyone can use it.
   */
  async createFrom(snapshotId: string, req: SandboxCreate, tenant: SandboxTenant, p: Principal | undefined) {
    const snap = await this.get(snapshotId, p);
    if (snap.kind === 'memory') {
      // Memory goes on where it was: the snapshot's driver, image and limits (a VM restores only
      // into the machine it was taken on); env, labels, network and TTLs are the request's.
      return this.deps.sandboxes.create(
        { ...req, driver: snap.driver, image: snap.spec.requested_image ?? undefined, limits: snap.spec.limits, env: { ...snap.spec.env, ...req.env } },
        tenant,
        { restore: this.memoryDir(snap.id) },
      );
    }
    const file = this.file(snap.id);
    return this.deps.sandboxes.create(
      { ...req, image: req.image ?? snap.spec.requested_image ?? undefined, env: { ...snap.spec.env, ...req.env } },
      tenant,
      { prepare: (agent) => restoreSandbox(agent, file, AbortSignal.timeout(ARCHIVE_TIMEOUT_MS)) },
    );
  }

  /**
   * `count` new sandboxes from the files of a running one: a snapshot taken now, a sandbox made
   * from it with the source's driver, image, limits, env, network, cwd and idle TTL, then the
   * snapshot dropped (`labels` replaces the source's). Sandboxes are made one after another; one
   * that fails does not undo the others.
   */
  async fork(
    sandboxId: string,
    p: Principal | undefined,
    count: number,
    tenant: SandboxTenant,
    opts: { labels?: Record<string, string> } = {},
  ): Promise<ForkResult> {
    const max = this.deps.config.sandboxes.max_forks;
    if (!Number.isInteger(count) || count < 1 || count > max) {
      throw new PaddockError('validation_failed', `count must be 1 to ${max} (sandboxes.max_forks)`, { field: 'count' });
    }
    const source = await this.deps.sandboxes.get(sandboxId, p);
    const snap = await this.take(sandboxId, p);
    const out: ForkResult = { kind: snap.kind, sandboxes: [], errors: [] };
    try {
      const spec = snap.spec;
      const req: SandboxCreate = {
        driver: source.driver,
        ...(spec.requested_image ? { image: spec.requested_image } : {}),
        limits: spec.limits,
        env: spec.env,
        labels: opts.labels ?? source.labels,
        network: spec.network,
        cwd: spec.cwd,
        timeout_ms: spec.timeout_ms,
      };
      for (let i = 0; i < count; i++) {
        try {
          out.sandboxes.push(await this.createFrom(snap.id, req, tenant, p));
        } catch (err) {
          if (!(err instanceof PaddockError)) this.deps.log.error({ err, sandboxId }, 'making a fork failed');
          out.errors.push(err instanceof PaddockError ? err : new PaddockError('internal', 'making the fork failed; see the runner log'));
        }
      }
    } finally {
      await this.delete(snap.id, p).catch((err) => this.deps.log.warn({ err, snapshotId: snap.id }, 'removing a fork snapshot failed'));
    }
    return out;
  }
}
