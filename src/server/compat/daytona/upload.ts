import { once } from 'node:events';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { PaddockError } from '../../../errors.js';
import type { AgentClient } from '../../../sandbox/agent/agent-client.js';
import { sandboxPath } from './file-info.js';
import { MultipartReader, type PartSink } from './multipart.js';

/** Files one bulk upload may carry. */
export const MAX_UPLOAD_FILES = 1000;

const PATH_FIELD = /^files\[(\d{1,4})\]\.path$/;
const FILE_FIELD = /^files\[(\d{1,4})\]\.file$/;

/** A file written through the agent as its part arrives; the agent's pace is the upload's pace. */
export function agentSink(agent: AgentClient, dest: string, open: Set<PassThrough>): PartSink {
  const pt = new PassThrough();
  open.add(pt);
  const written = agent.writeFile(dest, pt);
  // Settled either way here; the caller learns of a failure through write/end.
  written.catch(() => undefined);
  return {
    async write(chunk) {
      if (!pt.write(chunk)) await Promise.race([once(pt, 'drain'), written]);
    },
    async end() {
      pt.end();
      await written;
      open.delete(pt);
    },
  };
}

const discard: PartSink = { write: async () => undefined, end: async () => undefined };

/**
 * `POST /files/bulk-upload` (FileSystem.uploadFiles): `files[i].path` then `files[i].file` per file.
 * Each file goes to the agent as it streams in (a temporary file replaced once whole, so a failed
 * upload leaves nothing); its directory is made first, as Daytona's daemon does. `max` bounds the body.
 */
export async function bulkUpload(agent: AgentClient, cwd: string, body: Readable, boundary: string, max: number): Promise<number> {
  const dests = new Map<string, string>();
  const open = new Set<PassThrough>();
  let files = 0;
  const reader = new MultipartReader(boundary, {
    field(name, value) {
      const m = PATH_FIELD.exec(name);
      if (m) dests.set(m[1]!, sandboxPath(cwd, value, name));
    },
    async file(name, filename) {
      const m = FILE_FIELD.exec(name);
      if (!m) return discard;
      if (++files > MAX_UPLOAD_FILES) throw new PaddockError('validation_failed', `at most ${MAX_UPLOAD_FILES} files per upload`);
      const dest = dests.get(m[1]!) ?? sandboxPath(cwd, filename, name);
      // An existing directory is fine; any other failure shows in the write that follows.
      await agent.mkdir(path.posix.dirname(dest), { parents: true }).catch(() => undefined);
      return agentSink(agent, dest, open);
    },
  });
  let seen = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > max) {
        throw new PaddockError('payload_too_large', `the body is larger than sandboxes.max_upload_bytes (${max} bytes)`, { limit: max });
      }
      await reader.push(chunk);
      if (reader.done) break;
    }
    await reader.end();
  } finally {
    for (const pt of open) pt.destroy(new Error('upload aborted'));
  }
  return files;
}
