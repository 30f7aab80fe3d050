import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';

/** Daytona's timeouts are seconds; 0 or none is "as long as the runner allows", and so is more than that. */
export const timeoutMs = (rt: Runtime, s: number | undefined): number | undefined =>
  s ? Math.min(s * 1000, rt.config.limits.max.timeout_ms) : undefined;

/** What the daemon answers for a command past its timeout: the SDK raises DaytonaProcessExecutionTimeoutError. */
export const timedOut = (s: number | undefined): PaddockError =>
  new PaddockError('limit_exceeded', `the command did not end within ${s ?? '?'} s and was killed`, { daytona_code: 'PROCESS_EXECUTION_TIMEOUT' }, { status: 408 });
