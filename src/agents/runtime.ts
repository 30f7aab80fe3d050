import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { JobKind } from '../jobs/kind.js';
import type { Logger } from '../util/log.js';
import { ArtifactStore } from './artifacts.js';
import { GithubBridge } from './github-bridge.js';
import { agentKind } from './kind.js';
import { apiKeyAuth, type ModelAuth } from './model-auth.js';
import { ModelProxy } from './model-proxy.js';
import { githubConfigured } from './plan.js';
import { RepoCache } from './repo-cache.js';

export interface Agents {
  kind: JobKind<any>;
  artifacts: ArtifactStore;
  repos: RepoCache;
  proxy: ModelProxy;
  github: GithubBridge | null;
  /** Which credential the proxy uses now: the configured API key, else the OAuth login. */
  auth(): ModelAuth;
  close(): Promise<void>;
}

/**
 * What agent jobs need beside the scheduler: artifacts, the repository cache, the model proxy and
 * GitHub. Built once per runtime; `oauth` is the runner's subscription login (src/agents/oauth/).
 */
export function startAgents(config: Config, log: Logger, oauth: ModelAuth | undefined): Agents {
  const a = config.agents;
  // Host-side checkouts of jobs a killed process was running: nothing of this process uses them.
  rmSync(path.join(config.data_dir, 'agent-work'), { recursive: true, force: true });
  const artifacts = new ArtifactStore(path.join(config.data_dir, 'artifacts'), a.max_artifact_bytes);
  const repos = new RepoCache({
    dir: a.repos.cache_dir || path.join(config.data_dir, 'repos'),
    maxBytes: a.repos.max_bytes,
    timeoutMs: a.repos.git_timeout_ms,
    policy: { allowLocal: a.repos.allow_local, allowHttp: a.repos.allow_http },
    log: log.child({ component: 'repos' }),
  });
  const key = apiKeyAuth(a.model_api.api_key);
  const auth = () => (a.model_api.api_key !== '' || !oauth ? key : oauth);
  const proxy = new ModelProxy({
    baseUrl: a.model_api.base_url,
    auth,
    prices: a.prices,
    timeoutMs: a.model_api.timeout_ms,
    log: log.child({ component: 'model-proxy' }),
  });
  const github = githubConfigured(config) ? new GithubBridge(config, repos, log.child({ component: 'github' })) : null;
  const secrets = () => [...auth().secrets(), ...(config.github.token ? [config.github.token] : []), ...(github?.secrets() ?? [])];
  const kind = agentKind({ config, artifacts, repos, proxy, github, secrets, log: log.child({ component: 'agents' }) });
  return {
    kind,
    artifacts,
    repos,
    proxy,
    github,
    auth,
    async close() {
      await proxy.close();
      await repos.close();
    },
  };
}
