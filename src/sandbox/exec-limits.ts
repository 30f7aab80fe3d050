import type { Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { ExecRequest as AgentExecRequest } from './agent/exec.js';
import { MAX_RLIMIT } from './agent/protocol.js';
import type { ExecLimits } from './driver.js';

export type Rlimits = NonNullable<AgentExecRequest['rlimits']>;

const MIN: Record<keyof ExecLimits, number> = {
  cpuMs: 1,
  wallMs: 1,
  addressSpaceKb: 1,
  pids: 1,
  outputBytes: 0,
  fileSizeBytes: 0,
  stackBytes: 1,
};

/**
 * Checks an exec's own limits (whole numbers, none below its floor; a caller's typo is its
 * `validation_failed`, never a driver error) and returns them as given.
 */
export function checkExecLimits(l: ExecLimits | undefined): ExecLimits | undefined {
  if (l === undefined) return undefined;
  if (typeof l !== 'object' || l === null) throw new PaddockError('validation_failed', 'exec limits must be an object');
  for (const key of Object.keys(MIN) as (keyof ExecLimits)[]) {
    const v = l[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN[key]) {
      throw new PaddockError('validation_failed', `exec limit ${key} must be a whole number ≥ ${MIN[key]}`, { field: key });
    }
  }
  return l;
}

/**
 * The rlimits an exec's own limits ask for, each no looser than the sandbox's: CPU in whole
 * seconds (the agent makes the hard limit a second more, so SIGXCPU names it), processes within
 * limits.pids, file size within disk_mb; address space and stack have no sandbox counterpart.
 */
export function perExecRlimits(l: ExecLimits | undefined, sandbox: Pick<Limits, 'cpu_ms' | 'pids' | 'disk_mb'>): Rlimits {
  const r: Rlimits = {};
  if (!l) return r;
  const cap = (n: number) => Math.min(n, MAX_RLIMIT);
  if (l.cpuMs !== undefined) r.cpu = Math.min(Math.ceil(l.cpuMs / 1000), Math.ceil(sandbox.cpu_ms / 1000));
  if (l.pids !== undefined) r.nproc = Math.min(l.pids, sandbox.pids);
  if (l.fileSizeBytes !== undefined) r.fsize = cap(Math.min(l.fileSizeBytes, sandbox.disk_mb * 1024 * 1024));
  if (l.addressSpaceKb !== undefined) r.as = cap(l.addressSpaceKb * 1024);
  if (l.stackBytes !== undefined) r.stack = cap(l.stackBytes);
  return r;
}

/** `base` with each of `tighter` that is lower (a per-exec limit never loosens the sandbox's). */
export function tightenRlimits(base: Rlimits, tighter: Rlimits): Rlimits {
  const out: Rlimits = { ...base };
  for (const [name, v] of Object.entries(tighter) as [keyof Rlimits, number][]) {
    const b = out[name];
    out[name] = b === undefined ? v : Math.min(b, v);
  }
  return out;
}
