import { z } from 'zod';
import { limitsShape } from '../config/schema.js';
import { DRIVER_NAME_RE, LABEL_KEY_RE, PRINTABLE_RE } from '../util/grammar.js';
import { ISOLATION_ORDER, type Isolation } from '../sandbox/registry.js';
import { CallbackSecret, CallbackUrl } from './callbacks/url.js';

/** Limits as a job may ask for them; each is checked against the runner's maxima later. */
export const JobLimits = z.strictObject(Object.fromEntries(
  Object.entries(limitsShape).map(([k, v]) => [k, v.optional()]),
) as { [K in keyof typeof limitsShape]: z.ZodOptional<(typeof limitsShape)[K]> });

/** What every job kind takes: where and when it runs, and how it is labelled. */
const Labels = z
  .record(
    z.string().regex(LABEL_KEY_RE, 'label keys are letters, digits and . _ / - (at most 100)'),
    z.string().max(1000).regex(PRINTABLE_RE, 'label values must not contain control characters'),
  )
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');

export const jobFields = {
  /** The weakest isolation this job accepts: `auto` picks nothing weaker, a named driver must meet it. */
  isolation: z.enum(ISOLATION_ORDER as [Isolation, ...Isolation[]]).optional(),
  /** Runs only on a host whose fleet.labels include all of these (`gpu`, `region`, …). */
  host_labels: Labels.refine((l) => Object.keys(l).length <= 16, 'at most 16 host labels').optional(),
  driver: z.string().regex(DRIVER_NAME_RE, 'must be a driver name such as auto, gvisor, docker or bwrap').default('auto'),
  limits: JobLimits.default({}),
  labels: Labels.optional(),
  priority: z.number().int().min(-100).max(100).default(0),
  /** Requeue instead of failing when the runner restarts while this job runs. */
  retry_on_restart: z.boolean().default(false),
  /** Not started within this long after submit: the job ends `expired` (reason queue_timeout). Capped by queue.max_timeout_ms. */
  queue_timeout_ms: z.number().int().positive().optional(),
  /** Each state change (and the final result) is POSTed here (src/jobs/callbacks/); a failing receiver never fails the job. */
  callback_url: CallbackUrl.optional(),
  /** Signs those POSTs (X-Paddock-Signature); else the token's, else `callbacks.secret`. Never shown by the API. */
  callback_secret: CallbackSecret.optional(),
};

