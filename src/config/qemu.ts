import { z } from 'zod';
import { Ipv4Cidr } from '../sandbox/egress/grammar.js';

/** The qemu driver (src/sandbox/qemu/). */
export const QemuConfig = z
  .strictObject({
    /** `auto`: KVM when a probe boot under it works (cached per host and kernel), else TCG (emulation, slow but everywhere). */
    accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
    /** The QEMU system emulator; looked up in PATH unless absolute. */
    binary: z.string().min(1).default('qemu-system-x86_64'),
    /** The image the guest kernel and its modules come from (`paddock image build vm-kernel`). */
    kernel_image: z.string().min(1).default('vm-kernel'),
    /** How long a VM may take from start to its agent's HELLO (TCG boots in 2–4 s on 2 cores). */
    boot_timeout_ms: z.number().int().min(1000).default(60_000),
    /**
     * Boot once per image and limits, snapshot the booted idle VM, and start sandboxes by restoring
     * it (as Firecracker-based services do); off: every sandbox boots.
     */
    warm_start: z.boolean().default(true),
    /** Restored VMs kept ready per image and limits (each holds its memory_mb of host memory). */
    pool_size: z.number().int().min(0).max(16).default(0),
    /**
     * Where runners on this host take the /24 of their VM bridge from (each `egress` VM's namespace
     * gets one address of it; the VM itself sits behind that namespace on a /30 of its own). Parts
     * the host is already on are skipped.
     */
    egress_subnet: Ipv4Cidr.refine((c) => {
      const bits = Number(c.split('/')[1]);
      return bits >= 16 && bits <= 24;
    }, 'must be a /16 to /24').default('10.213.0.0/16'),
  })
  .default({ accel: 'auto', binary: 'qemu-system-x86_64', kernel_image: 'vm-kernel', boot_timeout_ms: 60_000, warm_start: true, pool_size: 0, egress_subnet: '10.213.0.0/16' });
export type QemuConfig = z.infer<typeof QemuConfig>;
