import { isTerminal } from '../jobs/states.js';
import { enc, type Http } from './http.js';
import { resumableSse } from './resume.js';
import type { ArtifactInfo, Job, JobEvent, JobListQuery, JobPage, JobSpecInput, JobSummary, PruneOptions, PruneResult } from './types.js';

export interface SubmitOptions {
  /** Hold the request until the job ends (at most `waitMs`, capped by the runner). */
  wait?: boolean;
  waitMs?: number;
  /** A retry with the same key returns the same job instead of a second one. */
  idempotencyKey?: string;
}

export interface EventOptions {
  /** Keep streaming until the job ends (default); false: what is stored so far, then stop. */
  follow?: boolean;
  /** Start after this event seq. */
  after?: number;
  signal?: AbortSignal;
}

/** `/v1/jobs`: submit, list, inspect, cancel, prune and follow jobs. */
export class JobsApi {
  constructor(private readonly http: Http) {}

  submit(spec: JobSpecInput, opts: SubmitOptions = {}): Promise<Job> {
    return this.http.json('POST', '/v1/jobs', {
      json: spec,
      query: { wait: opts.wait, wait_ms: opts.waitMs },
      headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
    });
  }

  get(id: string): Promise<Job> {
    return this.http.json('GET', `/v1/jobs/${enc(id)}`);
  }

  /** One page of summaries, newest first. */
  page(query: JobListQuery = {}): Promise<JobPage> {
    return this.http.json('GET', '/v1/jobs', { query: { ...query } });
  }

  /** Every job that matches, page after page. */
  async *list(query: JobListQuery = {}): AsyncGenerator<JobSummary> {
    let cursor = query.cursor;
    do {
      const page = await this.page({ ...query, cursor });
      yield* page.jobs;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  cancel(id: string): Promise<Job> {
    return this.http.json('POST', `/v1/jobs/${enc(id)}/cancel`);
  }

  async artifacts(id: string): Promise<ArtifactInfo[]> {
    return (await this.http.json<{ artifacts: ArtifactInfo[] }>('GET', `/v1/jobs/${enc(id)}/artifacts`)).artifacts;
  }

  /** One artifact's bytes (artifacts are bounded by the runner's agents.max_artifact_bytes). */
  async artifact(id: string, name: string): Promise<Buffer> {
    const res = await this.http.send('GET', `/v1/jobs/${enc(id)}/artifacts/${enc(name)}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Admin: deletes finished jobs; with no options, by the runner's configured retention. */
  prune(opts: PruneOptions = {}): Promise<PruneResult> {
    return this.http.json('POST', '/v1/jobs/prune', { json: opts });
  }

  /** The job's events; a dropped connection is resumed after the last event seen. */
  async *events(id: string, opts: EventOptions = {}): AsyncGenerator<JobEvent> {
    const follow = opts.follow ?? true;
    const messages = resumableSse({
      lastEventId: opts.after === undefined ? undefined : String(opts.after),
      resumeOnClose: follow,
      signal: opts.signal,
      isEnd: (m) => m.event === 'state' && isTerminal((JSON.parse(m.data) as { state: string }).state),
      open: async (lastEventId) => {
        const res = await this.http.send('GET', `/v1/jobs/${enc(id)}/events`, {
          query: { follow },
          headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
          signal: opts.signal,
        });
        return res.body!;
      },
    });
    for await (const m of messages) {
      yield { id: Number(m.id ?? 0), event: m.event, data: JSON.parse(m.data) } as JobEvent;
    }
  }
}
