import { toBody, type UploadSource } from './body.js';
import { enc, type Http } from './http.js';
import type { FileEntry, FileList } from './sandbox-types.js';

export interface Download {
  /** The file's size from Content-Length, when the runner sent it. */
  size: number | undefined;
  /** The bytes, as they arrive: read it to the end or cancel it. */
  body: ReadableStream<Uint8Array>;
}

/** `/v1/sandboxes/:id/files`: paths are absolute inside the sandbox. Contents are streamed both ways. */
export class SandboxFilesApi {
  constructor(private readonly http: Http) {}

  /** Writes a file (replacing it), sending `source` as it is read; `mode` as a number (0o644) or octal text. */
  async upload(id: string, path: string, source: UploadSource, opts: { mode?: number | string; signal?: AbortSignal } = {}): Promise<void> {
    const mode = typeof opts.mode === 'number' ? opts.mode.toString(8).padStart(4, '0') : opts.mode;
    const res = await this.http.send('PUT', `${files(id)}`, {
      query: { path, mode },
      body: toBody(source),
      signal: opts.signal,
    });
    await res.body?.cancel();
  }

  async download(id: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<Download> {
    const res = await this.http.send('GET', files(id), { query: { path }, signal: opts.signal });
    const length = res.headers.get('content-length');
    return { size: length === null ? undefined : Number(length), body: res.body ?? new ReadableStream({ start: (c) => c.close() }) };
  }

  list(id: string, path: string, opts: { depth?: number } = {}): Promise<FileList> {
    return this.http.json('GET', `${files(id)}/list`, { query: { path, depth: opts.depth } });
  }

  stat(id: string, path: string): Promise<FileEntry> {
    return this.http.json('GET', `${files(id)}/stat`, { query: { path } });
  }

  async mkdir(id: string, path: string, opts: { parents?: boolean } = {}): Promise<void> {
    await this.http.json('POST', `${files(id)}/mkdir`, { json: { path, ...opts } });
  }

  async move(id: string, from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<void> {
    await this.http.json('POST', `${files(id)}/move`, { json: { from, to, ...opts } });
  }

  async remove(id: string, path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.http.json('DELETE', files(id), { query: { path, recursive: opts.recursive } });
  }
}

const files = (id: string) => `/v1/sandboxes/${enc(id)}/files`;
