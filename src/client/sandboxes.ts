import { toBody } from './body.js';
import { ExecStream } from './exec-stream.js';
import { enc, type Http } from './http.js';
import { resumableSse } from './resume.js';
import { SandboxFilesApi } from './sandbox-files.js';
import type {
  ExecRequest,
  ExecResult,
  ExecStatus,
  ForkResult,
  Sandbox,
  SandboxCreateInput,
  SandboxListQuery,
  SandboxPage,
  Snapshot,
} from './sandbox-types.js';

export interface ExecStreamOptions {
  /** Streamed into the command's stdin; its end closes it. Without it the command's stdin is empty. */
  stdin?: AsyncIterable<Uint8Array | string>;
  /** Keep the command running if this connection drops; its result stays readable by exec id. */
  detach?: boolean;
  /** Aborting drops the connection, which kills the command (unless detached). */
  signal?: AbortSignal;
}

export interface SandboxEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/** `/v1/sandboxes`: long-lived sandboxes to exec in and move files in and out of. */
export class SandboxesApi {
  readonly files: SandboxFilesApi;

  constructor(private readonly http: Http) {
    this.files = new SandboxFilesApi(http);
  }

  create(spec: SandboxCreateInput = {}): Promise<Sandbox> {
    return this.http.json('POST', '/v1/sandboxes', { json: spec });
  }

  get(id: string): Promise<Sandbox> {
    return this.http.json('GET', sbx(id));
  }

  /** Destroys the sandbox; afterwards it is not found. */
  async delete(id: string): Promise<void> {
    await this.http.json('DELETE', sbx(id));
  }

  page(query: SandboxListQuery = {}): Promise<SandboxPage> {
    const label = Array.isArray(query.label)
      ? query.label
      : query.label
        ? Object.entries(query.label).map(([k, v]) => `${k}=${v}`)
        : undefined;
    return this.http.json('GET', '/v1/sandboxes', {
      query: { state: query.state, label, limit: query.limit, cursor: query.cursor },
    });
  }

  /** Every sandbox that matches, page after page. */
  async *list(query: SandboxListQuery = {}): AsyncGenerator<Sandbox> {
    let cursor = query.cursor;
    do {
      const page = await this.page({ ...query, cursor });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** Runs a command to its end; the result holds its output (capped by the runner). */
  exec(id: string, req: ExecRequest, opts: { signal?: AbortSignal } = {}): Promise<ExecResult> {
    return this.http.json('POST', `${sbx(id)}/exec`, { json: req, signal: opts.signal });
  }

  /** Starts a command that runs on by itself; poll `execStatus` for its result (the last 64 execs are kept). */
  execDetached(id: string, req: ExecRequest): Promise<ExecStatus> {
    return this.http.json('POST', `${sbx(id)}/exec`, { json: { ...req, detach: true } });
  }

  /** Runs a command and streams its output as it comes; see ExecStream. Refusals (404, 409, 429) throw here. */
  async execStream(id: string, req: Omit<ExecRequest, 'stdin'>, opts: ExecStreamOptions = {}): Promise<ExecStream> {
    const res = await this.http.send('POST', `${sbx(id)}/exec`, {
      json: { ...req, ...(opts.stdin ? { stdin_stream: true } : {}), ...(opts.detach ? { detach: true } : {}) },
      headers: { accept: 'text/event-stream' },
      signal: opts.signal,
    });
    return new ExecStream(
      res.body!,
      {
        writeStdin: (execId, bytes, eof) => this.writeStdin(id, execId, bytes, { eof }),
        signal: (execId, signal) => this.signal(id, execId, signal),
      },
      opts.stdin,
    );
  }

  execStatus(id: string, execId: string): Promise<ExecStatus> {
    return this.http.json('GET', `${sbx(id)}/execs/${enc(execId)}`);
  }

  /** Sends bytes to the stdin of an exec started with a stdin stream; `eof` closes it after them. */
  async writeStdin(id: string, execId: string, bytes: Uint8Array | string, opts: { eof?: boolean } = {}): Promise<void> {
    await this.http.json('POST', `${sbx(id)}/execs/${enc(execId)}/stdin`, {
      query: { eof: opts.eof || undefined },
      body: toBody(bytes),
    });
  }

  async signal(id: string, execId: string, signal: string): Promise<void> {
    await this.http.json('POST', `${sbx(id)}/execs/${enc(execId)}/signal`, { json: { signal } });
  }

  /** Sets the idle timeout; the answer carries the new `expires_at`. */
  timeout(id: string, timeoutMs: number): Promise<Sandbox> {
    return this.http.json('POST', `${sbx(id)}/timeout`, { json: { timeout_ms: timeoutMs } });
  }

  pause(id: string): Promise<Sandbox> {
    return this.http.json('POST', `${sbx(id)}/pause`);
  }

  /** Archives the sandbox's files; `create({snapshot})` starts new sandboxes from it. */
  snapshot(id: string, labels: Record<string, string> = {}): Promise<Snapshot> {
    return this.http.json('POST', `${sbx(id)}/snapshots`, { json: { labels } });
  }

  /** `count` new sandboxes with this one's spec and files as they are now. */
  fork(id: string, count = 1): Promise<ForkResult> {
    return this.http.json('POST', `${sbx(id)}/fork`, { json: { count } });
  }

  snapshots(query: { limit?: number; cursor?: string } = {}): Promise<{ items: Snapshot[]; next_cursor: string | null }> {
    return this.http.json('GET', '/v1/snapshots', { query });
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.http.json('DELETE', `/v1/snapshots/${enc(id)}`);
  }

  resume(id: string): Promise<Sandbox> {
    return this.http.json('POST', `${sbx(id)}/resume`);
  }

  /** The sandbox's lifecycle events (created, exec_started, …, destroyed), resumed after a dropped connection. */
  async *events(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<SandboxEvent> {
    const messages = resumableSse({
      resumeOnClose: true,
      signal: opts.signal,
      isEnd: (m) => m.event === 'destroyed',
      open: async (lastEventId) => {
        const res = await this.http.send('GET', `${sbx(id)}/events`, {
          headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
          signal: opts.signal,
        });
        return res.body!;
      },
    });
    for await (const m of messages) yield { id: m.id, event: m.event, data: JSON.parse(m.data) };
  }
}

const sbx = (id: string) => `/v1/sandboxes/${enc(id)}`;
