import type { Metrics } from '../metrics.js';
import type { JobRow, Store } from '../store/store.js';
import type { EventBus } from './event-bus.js';
import { isTerminal, type JobState } from './states.js';

export interface JobEnd {
  reason?: string | undefined;
  result?: unknown;
  exitCode?: number | null;
  error?: unknown;
}

/**
 * One state change: a guarded store write plus its event, then publish and
 * count it. A job already moved by someone else (cancel racing completion) is
 * left as it is; the result says whether this move took effect.
 */
export async function moveJob(
  deps: { store: Store; bus: EventBus; metrics: Metrics },
  row: JobRow,
  from: JobState[],
  to: JobState,
  end: JobEnd,
  /** The claim's lease: the move happens only while the job still holds it (a run's own end). */
  lease?: string | null,
): Promise<boolean> {
  const moved = await deps.store.transitionJob({
    id: row.id,
    from,
    to,
    lease,
    reason: end.reason ?? null,
    patch: {
      ...(end.result !== undefined ? { result: JSON.stringify(end.result) } : {}),
      ...(end.exitCode !== undefined ? { exit_code: end.exitCode } : {}),
      ...(end.error !== undefined ? { error: JSON.stringify(end.error) } : {}),
      ...(to === 'queued' ? { host: null, started_at: null, lease_expires_at: null } : {}),
    },
  });
  if (!moved) return false;
  deps.bus.publish(row.id, moved.event);
  if (!isTerminal(to)) return true;
  const labels = { kind: row.kind, driver: row.driver ?? 'none' };
  deps.metrics.jobsFinished.inc({ ...labels, state: to });
  if (moved.row.started_at && moved.row.finished_at) {
    const seconds = (Date.parse(moved.row.finished_at) - Date.parse(moved.row.started_at)) / 1000;
    deps.metrics.jobDuration.observe(labels, seconds);
  }
  return true;
}
