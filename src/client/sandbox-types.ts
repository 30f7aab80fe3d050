/**
 * Request and response types of the sandboxes API (docs: issue 8's contract).
 * The create body is inferred from the server's schema; the views follow the
 * contract until the server exports schemas for them.
 */
import type { z } from 'zod';
import type { SandboxCreate, SandboxReason, SandboxState } from '../sandboxes/spec.js';
import type { JobResult } from './types.js';

export type { SandboxReason, SandboxState };

/** A sandbox as created: fields with defaults may be left out. */
export type SandboxCreateInput = z.input<typeof SandboxCreate>;

export interface Sandbox {
  id: string;
  state: SandboxState;
  driver: string;
  image: string | null;
  labels: Record<string, string>;
  env_keys?: string[];
  limits: Record<string, number>;
  network: unknown;
  created_at: string;
  last_used_at: string;
  expires_at: string | null;
  max_lifetime_at: string | null;
  ended_at: string | null;
  reason: SandboxReason | null;
  detail?: string;
}

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

export type ExecRequest = ExecCommand & {
  env?: Record<string, string>;
  cwd?: string;
  /** Small utf-8 input, given whole (for a stream, use execStream's `stdin`). */
  stdin?: string;
  timeout_ms?: number;
};

/** An exec's outcome: as a job's result, with the output (capped) when the exec was not streamed. */
export type ExecResult = Omit<JobResult, 'limit'> & { exec_id?: string };

export interface ExecStarted {
  exec_id: string;
  pid: number;
}

export interface ExecStatus {
  exec_id: string;
  state: 'running' | 'exited';
  result?: ExecResult;
}

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  path: string;
  type: FileType;
  size: number;
  mode: number;
  modified_at: string;
}

export interface FileList {
  entries: FileEntry[];
  truncated: boolean;
}
