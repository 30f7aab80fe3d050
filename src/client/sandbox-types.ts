/**
 * Request and response types of the sandboxes API, inferred from the server's
 * schemas (type-only imports: no server code runs in the client).
 */
import type { z } from 'zod';
import type { SandboxCreate, SandboxReason, SandboxState } from '../sandboxes/spec.js';
import type { ExecBody, ExecResultView, ExecStateView } from '../server/routes/sandboxes/exec.js';
import type { EntryView } from '../server/routes/sandboxes/files.js';
import type { SnapshotView } from '../server/routes/sandboxes/snapshots.js';
import type { SandboxView } from '../server/routes/sandboxes/view.js';

export type { SandboxReason, SandboxState };

/** A sandbox as created: fields with defaults may be left out. */
export type SandboxCreateInput = z.input<typeof SandboxCreate>;

export type Sandbox = SandboxView;

export interface SandboxListQuery {
  state?: SandboxState;
  /** `k=v` pairs (or a record): sandboxes with all of these labels. */
  label?: string[] | Record<string, string>;
  limit?: number;
  cursor?: string;
}

export interface SandboxPage {
  items: Sandbox[];
  next_cursor: string | null;
}

/** What to run: an argv, or shell text (exactly one). */
export type ExecCommand = { command: string[]; script?: never } | { script: string; command?: never };

type ExecOptions = Omit<z.input<typeof ExecBody>, 'command' | 'script' | 'stdin_stream' | 'detach'>;

/** An exec's options; `stdin` is small utf-8 input given whole (for a stream, use execStream's `stdin`). */
export type ExecRequest = ExecCommand & ExecOptions;

/** An exec's outcome. Its stdout/stderr hold the output (capped) when the exec was not streamed. */
export type ExecResult = z.infer<typeof ExecResultView>;

export type ExecStatus = z.infer<typeof ExecStateView>;

export interface ExecStarted {
  exec_id: string;
  pid: number;
}

export type FileEntry = z.infer<typeof EntryView>;
export type FileType = FileEntry['type'];

export interface FileList {
  entries: FileEntry[];
  truncated: boolean;
}

/** A filesystem snapshot of a sandbox (its /work and /tmp). */
export type Snapshot = z.infer<typeof SnapshotView>;

export interface ForkResult {
  kind: 'filesystem' | 'memory';
  sandboxes: Sandbox[];
  /** One per sandbox that could not be made. */
  errors: { code: string; message: string }[];
}
