import { createReadStream, type ReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PaddockError } from '../errors.js';

/** The artifacts a job may have; names are fixed here, so no job-given string becomes a path. */
export const ARTIFACTS = {
  'diff.patch': 'text/x-diff; charset=utf-8',
  'changed_files.json': 'application/json',
  'final.txt': 'text/plain; charset=utf-8',
  'transcript.jsonl': 'application/x-ndjson',
} as const;
export type ArtifactName = keyof typeof ARTIFACTS;

export interface ArtifactInfo {
  name: ArtifactName;
  size: number;
  content_type: string;
  /** Cut at agents.max_artifact_bytes. */
  truncated: boolean;
}

const JOB_ID_RE = /^job_[A-Za-z0-9]{1,64}$/;
const TRUNCATED_SUFFIX = '.truncated';

export const isArtifactName = (name: string): name is ArtifactName => Object.hasOwn(ARTIFACTS, name);

/**
 * Files a job leaves behind, under `<dir>/<job id>/`, each at most `maxBytes` (past it the file is
 * cut and marked truncated). Written whole via a temp file and rename, or appended (the transcript),
 * so a reader never sees half a `diff.patch`. Pruned with the job (storage/retention.ts).
 */
export class ArtifactStore {
  /** Bytes appended so far per (job, artifact), so an append never needs a stat. */
  private readonly appended = new Map<string, number>();

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  private jobDir(jobId: string): string {
    if (!JOB_ID_RE.test(jobId)) throw new PaddockError('not_found', `no job ${jobId}`);
    return path.join(this.dir, jobId);
  }

  async put(jobId: string, name: ArtifactName, content: Buffer | string): Promise<ArtifactInfo> {
    const dir = this.jobDir(jobId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const truncated = bytes.length > this.maxBytes;
    if (truncated) bytes = bytes.subarray(0, this.maxBytes);
    const file = path.join(dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    await rename(tmp, file);
    await this.mark(file, truncated);
    return { name, size: bytes.length, content_type: ARTIFACTS[name], truncated };
  }

  /** Appends to an artifact, silently dropping what would pass the cap (and marking it truncated). */
  async append(jobId: string, name: ArtifactName, content: string): Promise<void> {
    const dir = this.jobDir(jobId);
    const key = `${jobId}/${name}`;
    let used = this.appended.get(key);
    if (used === undefined) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      used = await stat(path.join(dir, name)).then((s) => s.size, () => 0);
    }
    if (used >= this.maxBytes) return;
    let bytes = Buffer.from(content, 'utf8');
    if (used + bytes.length > this.maxBytes) {
      bytes = bytes.subarray(0, this.maxBytes - used);
      await this.mark(path.join(dir, name), true);
    }
    this.appended.set(key, used + bytes.length);
    await appendFile(path.join(dir, name), bytes, { mode: 0o600 });
  }

  /** Forgets a job's append counters once it has ended (its files stay). */
  done(jobId: string): void {
    for (const name of Object.keys(ARTIFACTS)) this.appended.delete(`${jobId}/${name}`);
  }

  private async mark(file: string, truncated: boolean): Promise<void> {
    if (truncated) await writeFile(file + TRUNCATED_SUFFIX, '', { mode: 0o600 });
    else await rm(file + TRUNCATED_SUFFIX, { force: true });
  }

  async list(jobId: string): Promise<ArtifactInfo[]> {
    const dir = this.jobDir(jobId);
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: ArtifactInfo[] = [];
    for (const name of Object.keys(ARTIFACTS) as ArtifactName[]) {
      if (!names.includes(name)) continue;
      const s = await stat(path.join(dir, name));
      out.push({ name, size: s.size, content_type: ARTIFACTS[name], truncated: names.includes(name + TRUNCATED_SUFFIX) });
    }
    return out;
  }

  /** A stream of one artifact; `not_found` when the job has none of that name. */
  async open(jobId: string, name: string): Promise<{ info: ArtifactInfo; stream: ReadStream }> {
    if (!isArtifactName(name)) {
      throw new PaddockError('not_found', `no artifact ${JSON.stringify(name.slice(0, 100))}; artifacts are ${Object.keys(ARTIFACTS).join(', ')}`);
    }
    const info = (await this.list(jobId)).find((a) => a.name === name);
    if (!info) throw new PaddockError('not_found', `job ${jobId} has no artifact ${name}`);
    // Opened before answering, so a prune racing the download ends it cleanly rather than as a 500 mid-way.
    const fd = await open(path.join(this.jobDir(jobId), name), 'r');
    return { info, stream: createReadStream('', { fd, end: Math.max(0, info.size - 1), emitClose: true }) };
  }

  async remove(jobIds: string[]): Promise<void> {
    for (const id of jobIds) {
      if (!JOB_ID_RE.test(id)) continue;
      this.done(id);
      await rm(path.join(this.dir, id), { recursive: true, force: true });
    }
  }
}
