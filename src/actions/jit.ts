import { inspect } from 'node:util';
import { PaddockError } from '../errors.js';
import type { Octokit } from '../github/client.js';
import { githubError, githubMessage } from '../github/errors.js';
import type { RepoRef } from './grammar.js';

/**
 * The runner's one-use registration (`encoded_jit_config`): a credential. It is only ever handed to
 * the sandbox's runner process; printing, logging or serialising it shows `[REDACTED]`.
 */
export class JitConfig {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** For the runner's command line inside its sandbox, and nothing else. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[REDACTED]';
  }
  toJSON(): string {
    return '[REDACTED]';
  }
  [inspect.custom](): string {
    return 'JitConfig [REDACTED]';
  }
}

export type Scope = { org: string } | { repo: RepoRef };

const scopePath = (s: Scope) => ('org' in s ? `/orgs/${s.org}` : `/repos/${s.repo.owner}/${s.repo.repo}`);
const scopeName = (s: Scope) => ('org' in s ? `organisation ${s.org}` : `${s.repo.owner}/${s.repo.repo}`);

/** The encoded config is base64 of a JSON document; GitHub's are a few KB. */
const JIT_RE = /^[A-Za-z0-9+/=]{16,65536}$/;

export interface Registration {
  runnerId: number;
  config: JitConfig;
}

/**
 * `POST …/actions/runners/generate-jitconfig`: a runner named `name` with `labels`, in runner group
 * `groupId`, registered for one job. GitHub's refusals become messages a user can act on: 403 (the
 * credentials may not administer runners here, or the group is not theirs), 404 (no such
 * repository, organisation or group), 409 (a runner of that name exists), 422 (GitHub's reason).
 */
export async function generateJitConfig(
  octokit: Octokit,
  scope: Scope,
  req: { name: string; labels: string[]; groupId: number; workFolder?: string },
): Promise<Registration> {
  const where = scopeName(scope);
  let data: unknown;
  try {
    ({ data } = await octokit.request(`POST ${scopePath(scope)}/actions/runners/generate-jitconfig`, {
      name: req.name,
      runner_group_id: req.groupId,
      labels: req.labels,
      work_folder: req.workFolder ?? '_work',
    }));
  } catch (err) {
    throw registrationError(err, where, req.groupId);
  }
  const d = data as { runner?: { id?: unknown }; encoded_jit_config?: unknown } | undefined;
  const runnerId = d?.runner?.id;
  const encoded = d?.encoded_jit_config;
  if (typeof runnerId !== 'number' || !Number.isSafeInteger(runnerId) || typeof encoded !== 'string' || !JIT_RE.test(encoded)) {
    throw new PaddockError('github_error', `GitHub's answer to generate-jitconfig for ${where} is not a runner registration`, { status: 201 });
  }
  return { runnerId, config: new JitConfig(encoded) };
}

function registrationError(err: unknown, where: string, groupId: number): PaddockError {
  const e = githubError(err, `registering a runner for ${where}`);
  const status = e.details?.status;
  const said = githubMessage((err as { response?: { data?: { message?: unknown } } }).response?.data?.message);
  if (status === 403) {
    return new PaddockError('github_error', `GitHub refused to register a runner for ${where} (403 ${said}): the credentials need "Administration: write" there (organisation runners: "Self-hosted runners: write"), and runner group ${groupId} must be usable by them`, { status });
  }
  if (status === 404 || e.code === 'github_not_found') {
    return new PaddockError('github_not_found', `GitHub has no ${where} or runner group ${groupId} that the credentials can see (404 ${said})`, { status: 404 });
  }
  if (status === 409) {
    return new PaddockError('github_error', `a runner of that name is already registered for ${where} (409 ${said})`, { status });
  }
  if (status === 422) {
    return new PaddockError('github_error', `GitHub did not accept the runner registration for ${where} (422 ${said})`, { status });
  }
  return e;
}

/**
 * Removes a runner's record on GitHub (a runner that never took its job, or whose sandbox was lost).
 * Already gone (404) is done.
 */
export async function deleteRunner(octokit: Octokit, scope: Scope, runnerId: number): Promise<void> {
  try {
    await octokit.request(`DELETE ${scopePath(scope)}/actions/runners/{runner_id}`, { runner_id: runnerId });
  } catch (err) {
    if ((err as { status?: unknown }).status === 404) return;
    throw githubError(err, `removing runner ${runnerId} of ${scopeName(scope)}`);
  }
}

/**
 * Whether GitHub has given the runner a job: `busy` on its record. A runner that is gone (404)
 * finished its one job; GitHub removed it.
 */
export async function runnerBusy(octokit: Octokit, scope: Scope, runnerId: number): Promise<'busy' | 'idle' | 'gone'> {
  try {
    const { data } = await octokit.request(`GET ${scopePath(scope)}/actions/runners/{runner_id}`, { runner_id: runnerId });
    return (data as { busy?: unknown }).busy === true ? 'busy' : 'idle';
  } catch (err) {
    if ((err as { status?: unknown }).status === 404) return 'gone';
    throw githubError(err, `reading runner ${runnerId} of ${scopeName(scope)}`);
  }
}
