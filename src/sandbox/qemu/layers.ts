import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The VMs' qcow2 disk layers, in one dir: a VM's overlay, each layer a snapshot froze, the overlays
 * of forks on it. A layer is the backing file of the ones above it (by absolute path in their
 * headers), so none is removed while anything still stands on it: `gc` keeps what is reachable
 * from the layers in use (running VMs' tops, `hold`) and from pinned snapshots, and removes the rest.
 */
export class Layers {
  readonly dir: string;
  private readonly pins: string;
  /** Layers in use by VMs of this process (their tops, and a top being made). */
  private readonly held = new Set<string>();
  private collecting: Promise<number> | undefined;

  constructor(root: string) {
    this.dir = path.join(root, 'layers');
    this.pins = path.join(root, 'pins');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await mkdir(this.pins, { recursive: true, mode: 0o700 });
  }

  path(vmId: string, n: number): string {
    return path.join(this.dir, `${vmId}-${n}.qcow2`);
  }

  hold(layer: string): void {
    this.held.add(layer);
  }

  release(layer: string): void {
    this.held.delete(layer);
  }

  /** Keeps `layer` (and what it stands on) for as long as the snapshot dir `owner` exists, or until unpin. */
  async pin(owner: string, layer: string): Promise<void> {
    await writeFile(this.pinFile(owner), JSON.stringify({ owner, layer }));
  }

  async unpin(owner: string): Promise<void> {
    await rm(this.pinFile(owner), { force: true });
  }

  private pinFile(owner: string): string {
    return path.join(this.pins, `${createHash('sha256').update(owner).digest('hex').slice(0, 32)}.json`);
  }

  /** Removes every layer nothing reaches; one pass at a time. */
  gc(): Promise<number> {
    this.collecting ??= this.collect().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async collect(): Promise<number> {
    const roots = new Set(this.held);
    for (const name of await readdir(this.pins).catch(() => [] as string[])) {
      const file = path.join(this.pins, name);
      try {
        const pin = JSON.parse(await readFile(file, 'utf8')) as { owner: string; layer: string };
        if (existsSync(pin.owner)) roots.add(pin.layer);
        else await rm(file, { force: true }); // its snapshot was removed without an unpin
      } catch {
        await rm(file, { force: true });
      }
    }
    const reached = new Set<string>();
    for (let next of roots) {
      while (next && !reached.has(next) && next.startsWith(`${this.dir}/`)) {
        reached.add(next);
        next = (await backingFile(next)) ?? '';
      }
    }
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const file = path.join(this.dir, name);
      if (reached.has(file) || this.held.has(file)) continue;
      await rm(file, { force: true });
      removed++;
    }
    return removed;
  }
}

/** The backing file a qcow2 file names in its header, if any. */
export async function backingFile(file: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
    const header = Buffer.alloc(20);
    await fh.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x514649fb) return undefined; // QFI\xfb
    const offset = Number(header.readBigUInt64BE(8));
    const size = header.readUInt32BE(16);
    if (!offset || !size || size > 4096) return undefined;
    const name = Buffer.alloc(size);
    await fh.read(name, 0, size, offset);
    return name.toString('utf8');
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}
