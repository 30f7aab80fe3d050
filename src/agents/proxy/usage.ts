import type { Price } from '../../config/agents.js';

export interface Usage {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
}

export const TOKEN_FIELDS = ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;
type TokenField = (typeof TOKEN_FIELDS)[number];

const PRICE_OF: Record<TokenField, keyof Price> = {
  input_tokens: 'input',
  output_tokens: 'output',
  cache_creation_input_tokens: 'cache_write',
  cache_read_input_tokens: 'cache_read',
};

export function emptyUsage(): Usage {
  return { requests: 0, input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cost_usd: 0 };
}

/**
 * The price of a model: the longest key that prefixes its name, else `default`; without a
 * `default`, the dearest of each figure, so an unknown model is never counted as free.
 */
export function priceFor(model: string | undefined, prices: Record<string, Price>): Price {
  let best: string | undefined;
  if (model !== undefined) {
    for (const key of Object.keys(prices)) {
      if (key !== 'default' && model.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
    }
  }
  const found = prices[best ?? 'default'];
  if (found) return found;
  const all = Object.values(prices);
  const max = (k: keyof Price) => Math.max(0, ...all.map((p) => p[k]));
  return { input: max('input'), output: max('output'), cache_write: max('cache_write'), cache_read: max('cache_read') };
}

/**
 * Counts one response's usage into a session's totals as it arrives. Anthropic's figures are
 * cumulative within a response (message_start has the input side, each message_delta the output
 * so far), so only what grew since the last report is added: a stream cut short still counts
 * what it used, and nothing is counted twice.
 */
export class ResponseMeter {
  private readonly seen: Record<TokenField, number> = {
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
  private price: Price;

  constructor(
    private readonly totals: Usage,
    private readonly prices: Record<string, Price>,
  ) {
    this.price = priceFor(undefined, prices);
  }

  model(name: string): void {
    this.price = priceFor(name, this.prices);
  }

  report(usage: unknown): void {
    if (typeof usage !== 'object' || usage === null) return;
    const u = usage as Record<string, unknown>;
    for (const f of TOKEN_FIELDS) {
      const v = u[f];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= this.seen[f]) continue;
      const grew = Math.min(v, 1e12) - this.seen[f];
      this.seen[f] += grew;
      this.totals[f] += grew;
      this.totals.cost_usd += (grew * this.price[PRICE_OF[f]]) / 1e6;
    }
  }
}
