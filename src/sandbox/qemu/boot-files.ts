import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PaddockError } from '../../errors.js';
import { cpioArchive, type CpioEntry } from './cpio.js';
import { loadOrder, type ModuleIndex, moduleName } from './kmod.js';

/** Where the `vm-kernel` recipe unpacks Debian's kernel package (src/images/recipe.ts). */
export const KERNEL_DIR_IN_IMAGE = 'opt/paddock-kernel';

/**
 * What the guest loads before it can see its disk, channel and network: virtio over MMIO (microvm
 * finds the devices through ACPI), the block, console, net and rng drivers, ext4 and its checksum.
 * Debian builds all of these as modules.
 */
export const GUEST_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_console', 'virtio_net', 'virtio_rng', 'crc32c_generic', 'ext4'];

/** Bumped when what goes into the boot files changes, so cached ones are rebuilt. */
const BOOT_FILES_VERSION = 1;

export interface BootFiles {
  /** The uncompressed kernel (ELF with a PVH entry): boots under TCG in a third of a bzImage's time. */
  vmlinux: string;
  initramfs: string;
  kernelVersion: string;
  hash: string;
}

/**
 * The microVM's kernel and initramfs from the `vm-kernel` image: vmlinux unpacked from Debian's
 * vmlinuz, and a newc initramfs holding the agent as /init and the modules it loads, in order.
 * Cached in the image's dir by the hash of the kernel image, the agent and this code's version.
 */
export async function ensureBootFiles(opts: { kernelImageDir: string; kernelImageHash: string; agentPath: string }): Promise<BootFiles> {
  const root = path.join(opts.kernelImageDir, 'rootfs', KERNEL_DIR_IN_IMAGE);
  const agent = await readFile(opts.agentPath);
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: BOOT_FILES_VERSION, kernel: opts.kernelImageHash, modules: GUEST_MODULES }))
    .update(agent)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(opts.kernelImageDir, `boot-${hash}`);
  const modulesRoot = path.join(root, 'lib', 'modules');
  const versions = existsSync(modulesRoot) ? await readdir(modulesRoot) : [];
  if (versions.length !== 1) {
    throw new PaddockError('image_not_found', `image vm-kernel has ${versions.length} kernels under /${KERNEL_DIR_IN_IMAGE}/lib/modules, not one; rebuild it with: paddock image build vm-kernel --force`);
  }
  const kernelVersion = versions[0]!;
  const files: BootFiles = { vmlinux: path.join(dir, 'vmlinux'), initramfs: path.join(dir, 'initramfs.cpio'), kernelVersion, hash };
  if (existsSync(files.initramfs)) return files;

  const tmp = await mkdtemp(path.join(opts.kernelImageDir, '.boot-'));
  try {
    const vmlinuz = await readFile(path.join(root, 'boot', `vmlinuz-${kernelVersion}`));
    await writeFile(path.join(tmp, 'vmlinux'), await unpackKernel(vmlinuz));
    const index = await moduleIndex(path.join(modulesRoot, kernelVersion, 'kernel'));
    const order = await loadOrder(index, GUEST_MODULES);
    const entries: CpioEntry[] = [
      { kind: 'dir', path: 'dev' },
      { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { kind: 'dir', path: 'proc' },
      { kind: 'dir', path: 'sys' },
      { kind: 'dir', path: 'newroot' },
      { kind: 'dir', path: 'lib' },
      { kind: 'dir', path: 'lib/modules' },
      { kind: 'file', path: 'init', data: agent, mode: 0o755 },
    ];
    for (const file of order) entries.push({ kind: 'file', path: `lib/modules/${path.basename(file)}`, data: await readFile(file) });
    entries.push({ kind: 'file', path: 'modules.order', data: Buffer.from(order.map((f) => `/lib/modules/${path.basename(f)}\n`).join('')) });
    await writeFile(path.join(tmp, 'initramfs.cpio'), cpioArchive(entries));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return files;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function moduleIndex(dir: string): Promise<ModuleIndex> {
  const index: ModuleIndex = new Map();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.ko')) index.set(moduleName(e.name), path.join(e.parentPath, e.name));
  }
  return index;
}

/** The ELF kernel inside a bzImage: its payload is one compressed stream (xz on Debian, gzip elsewhere). */
export async function unpackKernel(bzImage: Buffer): Promise<Buffer> {
  const xz = bzImage.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  let elf: Buffer | undefined;
  if (xz >= 0) elf = await pipeThrough(['xz', '-dcq', '--single-stream'], bzImage.subarray(xz));
  else {
    const gz = bzImage.indexOf(Buffer.from([0x1f, 0x8b, 0x08]));
    if (gz >= 0) elf = gunzipSync(bzImage.subarray(gz), { finishFlush: 2 });
  }
  if (!elf || elf.readUInt32BE(0) !== 0x7f454c46) {
    throw new PaddockError('driver_unavailable', 'cannot unpack the kernel: its payload is neither xz nor gzip, or not an ELF file');
  }
  return elf;
}

function pipeThrough(argv: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.on('error', (e) => reject(new PaddockError('driver_unavailable', `${argv[0]}: ${e.message} (install xz-utils)`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${argv[0]} exited ${code}: ${err}`))));
    child.stdin.on('error', () => undefined); // xz stops reading at the end of its stream
    child.stdin.end(input);
  });
}
