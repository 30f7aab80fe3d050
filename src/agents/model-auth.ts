import { PaddockError } from '../errors.js';

/**
 * How the model proxy authenticates to the model API. The credential lives only here, on the
 * host: the proxy adds `headers()` to each forwarded request and redacts every `secrets()` value
 * from what it sends back into the sandbox, logs and errors.
 */
export interface ModelAuth {
  readonly kind: 'api_key' | 'oauth';
  /** Headers to add upstream; throws PaddockError('agent_auth_unavailable') when no credential can be used. */
  headers(): Promise<Record<string, string>>;
  /** Every value that must never leave the host (the key; the access and refresh tokens). */
  secrets(): string[];
}

/** An Anthropic API key, sent as `x-api-key`. */
export function apiKeyAuth(key: string): ModelAuth {
  return {
    kind: 'api_key',
    async headers() {
      if (key === '') throw new PaddockError('agent_auth_unavailable', 'no model API key is configured (agents.model_api.api_key or ANTHROPIC_API_KEY)');
      return { 'x-api-key': key };
    },
    secrets: () => (key === '' ? [] : [key]),
  };
}
