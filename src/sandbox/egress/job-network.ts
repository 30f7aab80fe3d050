import { z } from 'zod';
import type { NetworkMode } from '../driver.js';
import { AllowEntry } from './grammar.js';

const MAX_ALLOW = 64;
const Mode = z.enum(['none', 'egress']);

/**
 * A job's `network`: `"none"`, `"egress"`, or `{"mode": "egress", "allow": [...]}`
 * where `allow` (IPv4 CIDRs, hostnames) narrows what the runner lets egress
 * sandboxes reach; it never widens it.
 */
export const JobNetwork = z.union([
  Mode,
  z
    .strictObject({
      mode: Mode,
      allow: z.array(AllowEntry).min(1).max(MAX_ALLOW).optional(),
    })
    .refine((n) => n.mode === 'egress' || n.allow === undefined, {
      message: '"allow" applies to mode "egress" only',
      path: ['allow'],
    }),
], { error: 'must be "none", "egress" or {"mode": "egress", "allow": [IPv4 CIDRs or hostnames]}' });
export type JobNetwork = z.infer<typeof JobNetwork>;

export const networkMode = (n: JobNetwork): NetworkMode => (typeof n === 'string' ? n : n.mode);

/** The job's allow list, or undefined when it leaves the runner's egress policy as it is. */
export const networkAllow = (n: JobNetwork): string[] | undefined => (typeof n === 'string' ? undefined : n.allow);
