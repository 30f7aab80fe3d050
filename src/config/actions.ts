import { z } from 'zod';
import { FULL_REPO_RE, LABEL_RE, OWNER_RE, POOL_RE } from '../actions/grammar.js';
import { AllowEntry } from '../sandbox/egress/grammar.js';
import { DRIVER_NAME_RE, IMAGE_REFERENCE_HINT, isCleanAbsolutePath, isImageReference } from '../util/grammar.js';
import { limitsShape } from './schema-limits.js';

const Label = z.string().regex(LABEL_RE, 'a runner label is 1–100 of A-Z a-z 0-9 . _ -');

/**
 * One pool of ephemeral Actions runners: the workflow jobs whose `runs-on` labels it has (with
 * `self-hosted`, `linux` and `x64` implied), from the repositories or organisations it serves,
 * each in a fresh sandbox of its driver and image.
 */
export const ActionsPool = z
  .strictObject({
    name: z.string().regex(POOL_RE, 'a pool name is 1–32 of a-z 0-9 and inner hyphens'),
    labels: z.array(Label).min(1).max(100),
    /** The sandbox driver; `auto`: the strongest available with `egress` (the runner must reach GitHub). */
    driver: z.string().regex(DRIVER_NAME_RE, 'must be a driver name such as auto, docker or qemu').default('auto'),
    /** The image with the runner in it (`paddock image build actions`); "": the driver's default image. */
    image: z.string().max(100).refine((i) => i === '' || isImageReference(i), IMAGE_REFERENCE_HINT).default('actions'),
    /** Where the image has the runner (`run.sh`), and its working directory. */
    runner_dir: z.string().max(200).refine(isCleanAbsolutePath, 'must be a clean absolute path').default('/home/runner'),
    /** The sandbox's limits; what is left out is `limits.default`'s (timeout_ms is max_runtime_ms). */
    limits: z.strictObject(limitsShape).partial().default({}),
    /** Runners of this pool at once (a job beyond it waits, queued). */
    max: z.number().int().min(1).max(256).default(5),
    /** A job's runner is stopped, and the job failed, past this. */
    max_runtime_ms: z.number().int().min(60_000).max(7 * 24 * 3600_000).default(3_600_000),
    /** A runner that has not been given its job by then is removed and deregistered. */
    registration_timeout_ms: z.number().int().min(10_000).max(3600_000).default(300_000),
    /** GitHub's runner group (1: "Default"). */
    runner_group_id: z.number().int().min(1).default(1),
    /** `owner/repo` it serves (repository-level runners) ... */
    repos: z.array(z.string().regex(FULL_REPO_RE, 'must be owner/repo')).max(1000).default([]),
    /** ... and organisations (organisation-level runners). */
    orgs: z.array(z.string().regex(OWNER_RE, 'must be an organisation login')).max(100).default([]),
    /** Narrows the runner's egress (IPv4 CIDRs, hostnames); it never widens the runner's policy. */
    allow: z.array(AllowEntry).min(1).max(64).optional(),
    /** Its sandboxes can run a Docker daemon (`container:`, `services:`, `docker build`); the qemu driver only. */
    docker: z.boolean().default(false),
  })
  .refine((p) => p.repos.length + p.orgs.length > 0, { message: 'a pool serves at least one of repos or orgs', path: ['repos'] })
  .refine((p) => !p.docker || p.driver === 'qemu', { message: 'docker = true needs driver "qemu" (a VM can host a Docker daemon)', path: ['docker'] });
export type ActionsPool = z.infer<typeof ActionsPool>;

/** Ephemeral GitHub Actions runners (src/actions/). */
export const ActionsConfig = z
  .strictObject({
    pools: z
      .array(ActionsPool)
      .max(64)
      .default([])
      .refine((ps) => new Set(ps.map((p) => p.name)).size === ps.length, 'pool names must be unique'),
    /** Also ask GitHub for queued jobs this often (lost webhooks, or no webhook at all); 0: webhooks only. */
    poll_ms: z.number().int().min(0).default(30_000),
  })
  .prefault({});
export type ActionsConfig = z.infer<typeof ActionsConfig>;
