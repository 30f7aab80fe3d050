import path from 'node:path';
import { PaddockError } from '../errors.js';
import type { AgentClient } from './agent/agent-client.js';
import { AgentError } from './agent/errors.js';
import { INTERNAL_DIR } from './bwrap/args.js';
import { type SandboxSpec, WORK_DIR } from './driver.js';

/**
 * Where a sandbox's input files go, as absolute paths: the job's under /work, Paddock's
 * own under /tmp/.paddock/. Nothing else can be written; `..` cannot climb out.
 */
export function inputPaths(files: SandboxSpec['files']): SandboxSpec['files'] {
  return files.map((f) => {
    const abs = path.posix.resolve(WORK_DIR, f.path);
    const inside = [WORK_DIR, INTERNAL_DIR].find((dir) => abs.startsWith(`${dir}/`));
    if (!inside) throw new PaddockError('validation_failed', `file path ${JSON.stringify(f.path)} is outside ${WORK_DIR}`);
    return { ...f, path: abs };
  });
}

/**
 * The spec's files, written by the agent (at once, or one after another where each would hold
 * one of a small fd budget). The agent refusing a file (no space within disk_mb, …) is the
 * input's fault, not the driver's.
 */
export async function writeInputFiles(agent: AgentClient, files: SandboxSpec['files'], opts: { parallel: boolean }): Promise<void> {
  const write = (f: SandboxSpec['files'][number]) =>
    agent.writeFile(f.path, f.content, { mode: f.mode ?? 0o644, mkdirs: true }).catch((err: unknown) => {
      if (err instanceof AgentError) throw new PaddockError('validation_failed', `cannot write input file ${f.path}: ${err.message}`);
      throw err;
    });
  const all = inputPaths(files);
  if (opts.parallel) await Promise.all(all.map(write));
  else for (const f of all) await write(f);
}

/** Throws `driver_error` for a sandbox that was destroyed or died, naming which. */
export function assertUsable(id: string, destroyed: boolean, death: string | undefined): void {
  if (destroyed) throw new PaddockError('driver_error', `sandbox ${id} is destroyed`);
  if (death !== undefined) throw new PaddockError('driver_error', `sandbox ${id} is dead: ${death}`);
}
