import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per runner (not prom-client's global), so several runners can share a process in tests. */
export class Metrics {
  readonly registry = new Registry();
  readonly jobsSubmitted = new Counter({
    name: 'paddock_jobs_submitted_total',
    help: 'Jobs accepted by the API',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly jobsFinished = new Counter({
    name: 'paddock_jobs_finished_total',
    help: 'Jobs that reached a terminal state',
    labelNames: ['kind', 'state', 'driver'],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'paddock_job_duration_seconds',
    help: 'Wall time from start to end of a job',
    labelNames: ['kind', 'driver'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly jobsRunning = new Gauge({
    name: 'paddock_jobs_running',
    help: 'Jobs running on this runner',
    registers: [this.registry],
  });
  readonly jobsQueued = new Gauge({
    name: 'paddock_jobs_queued',
    help: 'Jobs waiting in the queue',
    registers: [this.registry],
  });

  readonly eventStreams = new Gauge({
    name: 'paddock_event_streams_open',
    help: 'Event streams (GET /v1/jobs/:id/events) open now',
    registers: [this.registry],
  });
  readonly eventStreamsCut = new Counter({
    name: 'paddock_event_streams_cut_total',
    help: 'Event streams cut off because their reader fell too far behind (it resumes with Last-Event-ID)',
    registers: [this.registry],
  });

  readonly callbacks = new Counter({
    name: 'paddock_callbacks_total',
    help: 'Job status callbacks by how they ended: delivered, failed (4xx or out of tries), refused (private destination), dropped (queue full), abandoned (runner stopped)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'paddock_' });
  }
  // Ephemeral Actions runners (src/actions/), named as actions-runner-controller names its metrics.
  readonly actionsAssignedJobs = new Gauge({
    name: 'paddock_actions_assigned_jobs',
    help: 'Workflow jobs a pool has taken on this host and not finished (a runner queued, starting or at work)',
    labelNames: ['pool'],
    registers: [this.registry],
  });
  readonly actionsWaitingJobs = new Gauge({
    name: 'paddock_actions_waiting_jobs',
    help: 'Workflow jobs a pool holds back because it is at its max',
    labelNames: ['pool'],
    registers: [this.registry],
  });
  readonly actionsBusyRunners = new Gauge({
    name: 'paddock_actions_busy_runners',
    help: 'Runner processes running in their sandboxes',
    labelNames: ['pool'],
    registers: [this.registry],
  });
  readonly actionsJobStartup = new Histogram({
    name: 'paddock_actions_job_startup_duration_seconds',
    help: 'From the workflow job reaching Paddock (webhook or poll) to its runner process starting in its sandbox',
    labelNames: ['pool'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 300],
    registers: [this.registry],
  });
}
