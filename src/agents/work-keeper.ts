import { toPaddockError } from '../errors.js';
import type { JobContext } from '../jobs/kind.js';
import type { Sandbox } from '../sandbox/driver.js';
import type { AgentServices } from './services.js';
import type { AgentJobSpec } from './spec.js';
import { diffWorkTree, type WorkDiff } from './workspace.js';

/** Snapshots of the diff while the agent works are taken at most this often. */
const SNAPSHOT_EVERY_MS = 5000;

/**
 * Keeps a run's work on the host as it goes: the transcript line by line, and the diff after tool
 * results (at most every few seconds), so a runner killed mid-job still leaves the work so far. At
 * the end, the final diff replaces the snapshot.
 */
export class WorkKeeper {
  private chain: Promise<void> = Promise.resolve();
  private lastSnapshot = 0;
  private snapshotting: Promise<void> | null = null;
  private ended = false;

  constructor(
    private readonly svc: AgentServices,
    private readonly ctx: JobContext<AgentJobSpec>,
    private readonly sandbox: Sandbox,
    private readonly base: string,
  ) {}

  transcript(line: string): void {
    this.chain = this.chain
      .then(() => this.svc.artifacts.append(this.ctx.jobId, 'transcript.jsonl', `${line}\n`))
      .catch((err) => this.ctx.log.warn({ err: toPaddockError(err) }, 'storing the transcript failed'));
  }

  snapshotSoon(): void {
    if (this.ended || !this.ctx.spec.output.diff || this.snapshotting) return;
    if (Date.now() - this.lastSnapshot < SNAPSHOT_EVERY_MS) return;
    this.lastSnapshot = Date.now();
    this.snapshotting = this.store()
      .then(() => undefined, (err) => this.ctx.log.debug({ err: toPaddockError(err) }, 'diff snapshot failed'))
      .finally(() => (this.snapshotting = null));
  }

  /** The final diff, stored; null when the sandbox could not give one (the last snapshot stays). */
  async final(): Promise<WorkDiff | null> {
    this.ended = true;
    await this.snapshotting;
    if (!this.ctx.spec.output.diff) return null;
    try {
      return await this.store();
    } catch (err) {
      this.ctx.log.warn({ err: toPaddockError(err) }, "taking the work tree's final diff failed; the last snapshot is kept");
      return null;
    }
  }

  private async store(): Promise<WorkDiff> {
    const { artifacts } = this.svc;
    const diff = await diffWorkTree(this.sandbox, this.base, artifacts.maxBytes);
    await artifacts.put(this.ctx.jobId, 'diff.patch', diff.patch);
    await artifacts.put(this.ctx.jobId, 'changed_files.json', JSON.stringify({ base_commit: this.base, truncated: diff.truncated, files: diff.files }));
    return diff;
  }

  /** Waits for every write in flight. */
  async idle(): Promise<void> {
    await this.snapshotting;
    await this.chain;
  }
}
