import type { Config, Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { JobPlan } from '../jobs/kind.js';
import { resolveLimits } from '../jobs/limits.js';
import { checkRepoUrl } from './grammar.js';
import type { AgentJobSpec } from './spec.js';

/**
 * What an agent run needs where the runner's command defaults are too small: the CLI alone takes
 * ~300 MB and a few hundred file descriptors, and one task runs for many minutes. Each is capped
 * by the runner's `limits.max`; `agents.limits` overrides these.
 */
const AGENT_DEFAULTS: Partial<Limits> = {
  timeout_ms: 30 * 60_000,
  cpu_ms: 30 * 60_000,
  memory_mb: 4096,
  pids: 512,
  output_bytes: 64 * 1024 * 1024,
  disk_mb: 2048,
  open_files: 4096,
};

export function agentLimits(spec: AgentJobSpec, config: Config): Limits & { idle_timeout_ms: number } {
  const defaults: Limits = { ...config.limits.default };
  for (const [k, v] of Object.entries({ ...AGENT_DEFAULTS, ...config.agents.limits }) as [keyof Limits, number][]) {
    defaults[k] = Math.min(v, config.limits.max[k]);
  }
  const { idle_timeout_ms, ...asked } = spec.limits;
  const limits = resolveLimits(asked, { limits: { default: defaults, max: config.limits.max } });
  return { ...limits, idle_timeout_ms: idle_timeout_ms ?? config.agents.idle_timeout_ms };
}

export const githubConfigured = (config: Config) =>
  config.github.token !== '' || (config.github.app_id > 0 && config.github.private_key !== '');

/** Submit-time checks of an agent job against this runner, and what it needs. */
export function planAgentJob(spec: AgentJobSpec, config: Config): JobPlan {
  const { repos } = config.agents;
  if (spec.repo_url !== undefined) checkRepoUrl(spec.repo_url, { allowLocal: repos.allow_local, allowHttp: repos.allow_http });
  if (spec.github_issue !== undefined && !githubConfigured(config)) {
    throw new PaddockError('github_not_configured', 'this runner has no GitHub credentials (github.token or github.app_id + private_key)', {
      field: 'github_issue',
    });
  }
  return { limits: agentLimits(spec, config), network: 'none', image: spec.image ?? config.agents.image };
}
