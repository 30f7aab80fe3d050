import { Http, type HttpOptions } from './http.js';
import { JobsApi } from './jobs.js';
import { SandboxesApi } from './sandboxes.js';
import type { ActionsStatus, FleetHost } from './types.js';

export type ClientOptions = HttpOptions;

/**
 * A typed client for a Paddock runner's HTTP API. Every error the runner
 * answers with is thrown as a PaddockError carrying its stable `code`.
 *
 *   const paddock = new PaddockClient({ url: 'http://127.0.0.1:7878', token });
 *   const job = await paddock.jobs.submit({ kind: 'command', command: ['echo', 'hi'] }, { wait: true });
 */
export class PaddockClient {
  readonly http: Http;
  readonly jobs: JobsApi;
  readonly sandboxes: SandboxesApi;

  constructor(opts: ClientOptions) {
    this.http = new Http(opts);
    this.jobs = new JobsApi(this.http);
    this.sandboxes = new SandboxesApi(this.http);
  }

  /** The Actions pools, their runners, and workflow jobs no pool could run (admin). */
  async actions(): Promise<ActionsStatus> {
    return this.http.json('GET', '/v1/actions');
  }

  /** The hosts sharing the runner's store, with their health (admin). */
  async hosts(): Promise<{ hosts: FleetHost[]; self: string }> {
    return this.http.json('GET', '/v1/hosts');
  }

  get url(): string {
    return this.http.url;
  }
}
