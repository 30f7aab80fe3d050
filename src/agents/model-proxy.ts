import http from 'node:http';
import https from 'node:https';
import type { Price } from '../config/agents.js';
import { PaddockError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { ModelAuth } from './model-auth.js';
import type { Upstream } from './proxy/forward.js';
import { ModelProxySession, type ProxySession } from './proxy/session.js';
import type { AgentBudget } from './spec.js';

export type { ApiError } from './proxy/answer.js';
export type { ProxySession } from './proxy/session.js';
export type { Usage } from './proxy/usage.js';

export interface ModelProxyOptions {
  /** The model API (Anthropic's, or a gateway); may carry a path prefix. */
  baseUrl: string;
  /** Asked at each request, so a new login or a refreshed token is used at once. */
  auth: () => ModelAuth;
  prices: Record<string, Price>;
  /** Upstream timeout: for the response headers and for each gap in the body. */
  timeoutMs: number;
  log: Logger;
}

/**
 * The only way out of an agent job's sandbox: the Messages API, forwarded to the configured
 * upstream with the runner's credential added on the host, each job's usage counted and its
 * budget enforced. One session per job; the sandbox's connections arrive through the agent's
 * port forwarding as plain streams (`session.handle`), so the proxy listens on nothing.
 */
export class ModelProxy {
  private readonly upstream: Upstream;
  private readonly sessions = new Set<ProxySession>();

  constructor(private readonly opts: ModelProxyOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new PaddockError('config_invalid', 'agents.model_api.base_url is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PaddockError('config_invalid', 'agents.model_api.base_url must be an http(s) URL');
    }
    if (url.username || url.password) {
      throw new PaddockError('config_invalid', 'agents.model_api.base_url must not carry credentials; use agents.model_api.api_key');
    }
    const Agent = url.protocol === 'https:' ? https.Agent : http.Agent;
    this.upstream = {
      url,
      prefix: url.pathname.replace(/\/+$/, ''),
      agent: new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 16 }),
    };
  }

  session(jobId: string, budget: AgentBudget | undefined, onActivity?: () => void): ProxySession {
    const session: ProxySession = new ModelProxySession({
      jobId,
      budget,
      ...(onActivity ? { onActivity } : {}),
      upstream: this.upstream,
      auth: this.opts.auth,
      prices: this.opts.prices,
      timeoutMs: this.opts.timeoutMs,
      log: this.opts.log.child({ jobId }),
      onClose: () => this.sessions.delete(session),
    });
    this.sessions.add(session);
    return session;
  }

  async close(): Promise<void> {
    for (const s of [...this.sessions]) s.close();
    this.upstream.agent.destroy();
  }
}
