import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';

/** Why the qemu driver tests cannot run here, or undefined. Locally that skips them; under CI=true it fails them. */
export function qemuMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the qemu driver tests need root';
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'qemu-system-x86_64 is missing (apt-get install qemu-system-x86)';
  }
  for (const image of ['vm-kernel', 'base']) {
    if (!existsSync(path.join(IMAGES_DIR, image, 'rootfs'))) return `image ${image} is not built in ${IMAGES_DIR} (paddock image build ${image})`;
  }
  return undefined;
}

/** Host QEMU processes whose command line names `needle` (a VM dir). */
export function qemuProcesses(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu-system') && cmd.includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
