import { z } from 'zod';

/** Resource limits for one job. The same shape is used for defaults, maxima and job requests. */
export const limitsShape = {
  timeout_ms: z.number().int().positive(),
  memory_mb: z.number().int().positive(),
  cpu_ms: z.number().int().positive(),
  pids: z.number().int().positive(),
  output_bytes: z.number().int().positive(),
  disk_mb: z.number().int().positive(),
  open_files: z.number().int().positive(),
  /** CPU rate: how many cores' worth of time per second (cgroup quota for bwrap, NanoCpus for containers). */
  cpus: z.number().positive().max(1024),
};
export const Limits = z.strictObject(limitsShape);
export type Limits = z.infer<typeof Limits>;
