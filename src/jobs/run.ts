import { PaddockError, toPaddockError } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { DriverSet } from '../sandbox/registry.js';
import type { JobRow, Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import { deadlineTimer } from './deadline.js';
import { endOfRun } from './ending.js';
import { driverForRun } from './run-driver.js';
import { isPostgresUrl } from '../store/dialect.js';

const handsBack = (config: Config) => isPostgresUrl(config.store_url);
import type { EventBus } from './event-bus.js';
import type { JobKinds, JobOutcome } from './kind.js';
import { OutputEvents } from './output-events.js';
import type { StoredSpec } from './scheduler.js';
import type { JobState } from './states.js';
import type { JobEnd } from './transition.js';

/**
 * Runs one claimed job in its sandbox and says where it goes next; the caller
 * records that move. A failure of the job itself is an end, not a throw: what
 * throws here (a spec that does not parse) is the caller's to log.
 */
export async function runJob(
  deps: { store: Store; bus: EventBus; drivers: DriverSet; kinds: JobKinds; log: Logger; config: Config },
  row: JobRow,
  abort: AbortController,
): Promise<{ to: JobState; end: JobEnd }> {
  const log = deps.log.child({ jobId: row.id });
  const spec = JSON.parse(row.spec) as StoredSpec;
  // Output that cannot be stored (disk full) ends the job: nothing more of it would be kept.
  const output = new OutputEvents(row.id, deps.store, deps.bus, {
    // A lost lease: another host has the job now; this run stops and writes nothing more.
    onFail: (err) => abort.abort(err.code === 'lease_lost' ? 'lease_lost' : 'storage_full'),
    lease: row.lease_token,
    giveUp: () => abort.signal.aborted && abort.signal.reason === 'shutdown',
  });
  const kind = deps.kinds[row.kind];
  const timer = deadlineTimer(kind?.hardTimeoutMs?.(spec) ?? spec.limits.timeout_ms, () => abort.abort('timeout'));
  let outcome: JobOutcome | undefined;
  let error: PaddockError | undefined;
  let driverName = row.driver;
  try {
    if (!kind) throw new PaddockError('internal', `unknown job kind ${row.kind}`);
    const { driver, limits, chosen } = driverForRun(deps.drivers, row, spec, deps.config.limits.max);
    driverName = driver.name;
    // Picked here (the submitting host could not, or its pick is not here): the job says where it ran.
    if (chosen && driver.name !== row.driver) await deps.store.setJobDriver(row.id, driver.name, row.lease_token);
    outcome = await kind.run({
      jobId: row.id,
      spec: { ...spec, limits },
      driver,
      limits,
      signal: abort.signal,
      output: output.push,
      event: output.event,
      log,
    });
  } catch (err) {
    error = toPaddockError(err);
    log.warn({ err: error, code: error.code }, 'job failed to run');
    // The driver's own probe decides whether it is broken; this job alone does not.
    if (error.code === 'driver_error' && driverName) void deps.drivers.suspect(driverName);
  } finally {
    timer.clear();
    await output.close();
  }
  if (output.failure) log.error({ err: output.failure }, 'storing output failed; the job ends');
  const { to, end, why } = endOfRun({
    outcome,
    error,
    outputFailure: output.failure,
    aborted: abort.signal.aborted ? String(abort.signal.reason) : undefined,
    // In a fleet another host takes a handed-back job at once: retry-safe kinds go back too.
    retryOnRestart: spec.retry_on_restart || (handsBack(deps.config) && kind?.retrySafe === true && row.attempts < deps.config.fleet.max_attempts),
    resultSchema: kind?.result,
  });
  if (why) log.error({ why }, 'the sandbox reported an impossible result');
  return { to, end };
}
