/**
 * Request and response types of the jobs API. Where the server has a zod
 * schema, the type is inferred from it (type-only imports: no server code
 * runs in the client).
 */
import type { z } from 'zod';
import type { JobSpec } from '../jobs/spec.js';
import type { JobState } from '../jobs/states.js';
import type { JobSummaryView } from '../server/job-summary.js';
import type { JobView } from '../server/job-view.js';
import type { HostView } from '../server/routes/hosts.js';
import type { ActionsStatusView } from '../server/routes/actions.js';

/** A job as submitted: fields with defaults may be left out. */
export type JobSpecInput = z.input<typeof JobSpec>;
export type Job = JobView;
export type JobSummary = JobSummaryView;
export type JobResult = NonNullable<JobView['result']>;
export type { JobState };

/** A host of the fleet sharing the runner's store (GET /v1/hosts). */
export type FleetHost = z.infer<typeof HostView>;
export type ActionsStatus = z.infer<typeof ActionsStatusView>;

export interface JobListQuery {
  state?: JobState;
  kind?: string;
  /** Jobs per page (1–500). */
  limit?: number;
  cursor?: string;
}

export interface JobPage {
  jobs: JobSummary[];
  next_cursor: string | null;
}

export interface PruneOptions {
  older_than_ms?: number;
  keep?: number;
}

export interface PruneResult {
  deleted_jobs: number;
  deleted_events: number;
}

/** A job's event: `state` changes and output chunks, each with its seq as `id`. */
export type JobEvent =
  | { id: number; event: 'state'; data: { state: JobState; reason?: string } }
  | { id: number; event: 'stdout' | 'stderr'; data: { data: string } }
  /** An agent job's progress: agent.phase, agent.init, agent.text, agent.tool_use, agent.tool_result, agent.result, agent.published. */
  | { id: number; event: `agent.${string}`; data: Record<string, any> };

/** One artifact of a job (an agent job's diff.patch, changed_files.json, final.txt, transcript.jsonl). */
export interface ArtifactInfo {
  name: string;
  size: number;
  content_type: string;
  truncated: boolean;
}
