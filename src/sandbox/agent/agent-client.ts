import type { Duplex, Readable } from 'node:stream';
import { type ExecHandle, type ExecOutput, type ExecRequest, startExec } from './exec.js';
import { readFile, type ReadFileResult, type WriteFileOptions, writeFile } from './files.js';
import * as fsOps from './fs-ops.js';
import { AgentSession, type AgentTransport } from './session.js';
import { connect, type Listener, listen } from './tcp.js';

/** The typed operations of docs/agent-protocol.md over one AgentSession. */
export class AgentClient {
  private constructor(readonly session: AgentSession) {}

  /** Waits for the agent's HELLO (failing with `agent_died` after the timeout). */
  static async connect(transport: AgentTransport, opts: { helloTimeoutMs?: number } = {}): Promise<AgentClient> {
    return new AgentClient(await AgentSession.connect(transport, opts));
  }

  exec(req: ExecRequest, out?: ExecOutput, signal?: AbortSignal): ExecHandle {
    return startExec(this.session, req, out, signal);
  }

  writeFile(path: string, content: Readable | Uint8Array | string, opts?: WriteFileOptions): Promise<{ size: number }> {
    return writeFile(this.session, path, content, opts);
  }

  readFile(path: string, opts?: { offset?: number; length?: number }): Promise<ReadFileResult> {
    return readFile(this.session, path, opts);
  }

  stat(path: string): Promise<fsOps.Entry> {
    return fsOps.stat(this.session, path);
  }

  list(path: string, opts?: fsOps.ListOptions): Promise<{ entries: fsOps.Entry[]; truncated: boolean }> {
    return fsOps.list(this.session, path, opts);
  }

  listEntries(path: string, opts?: fsOps.ListOptions): AsyncGenerator<fsOps.Entry, fsOps.ListSummary> {
    return fsOps.listEntries(this.session, path, opts);
  }

  mkdir(path: string, opts?: { parents?: boolean; mode?: number }): Promise<void> {
    return fsOps.mkdir(this.session, path, opts);
  }

  remove(path: string, opts?: { recursive?: boolean }): Promise<void> {
    return fsOps.remove(this.session, path, opts);
  }

  rename(from: string, to: string, opts?: { overwrite?: boolean }): Promise<void> {
    return fsOps.rename(this.session, from, to, opts);
  }

  connect(port: number): Promise<Duplex> {
    return connect(this.session, port);
  }

  listen(port: number, onConnection: (socket: Duplex, info: { peerPort: number }) => void): Promise<Listener> {
    return listen(this.session, port, onConnection);
  }

  ping(): Promise<number> {
    return this.session.ping();
  }

  close(): void {
    this.session.close();
  }
}
