import path from 'node:path';
import { PaddockError } from '../../../errors.js';
import type { Entry } from '../../../sandbox/agent/fs-ops.js';
import { SandboxPath } from '../../../sandboxes/spec.js';

/**
 * A path as the SDK gives it: absolute, or relative to the sandbox's working directory (as
 * Daytona resolves it); then checked as every sandbox path is (absolute, no NUL, ≤ 4096 bytes).
 */
export function sandboxPath(cwd: string, p: string, field = 'path'): string {
  const full = p.startsWith('/') ? p : path.posix.join(cwd, p);
  const ok = SandboxPath.safeParse(full);
  if (!ok.success) {
    throw new PaddockError('validation_failed', `${field}: ${ok.error.issues[0]?.message ?? 'invalid'}`, { daytona_code: 'INVALID_FILE_PATH' });
  }
  return full;
}

const TYPE_CHAR: Record<Entry['type'], string> = { file: '-', dir: 'd', symlink: 'L', other: '?' };

/** Go's FileMode.String(), which Daytona's daemon answers as `mode`: `drwxr-xr-x`. */
function modeString(e: Entry): string {
  const rwx = 'rwxrwxrwx';
  let s = TYPE_CHAR[e.type];
  for (let i = 0; i < 9; i++) s += e.mode & (1 << (8 - i)) ? rwx[i] : '-';
  return s;
}

/** An agent entry as Daytona's FileInfo (@daytona/toolbox-api-client models/file-info.d.ts). */
export function fileInfo(e: Entry) {
  const modified = new Date(e.mtime_ms).toISOString();
  return {
    name: e.name,
    path: e.path,
    isDir: e.type === 'dir',
    size: e.size,
    mode: modeString(e),
    permissions: (e.mode & 0o7777).toString(8).padStart(4, '0'),
    modTime: modified,
    modifiedAt: modified,
    // The agent does not report owners; everything in a sandbox belongs to its one user.
    owner: 'sandbox',
    group: 'sandbox',
  };
}
