import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../../config/agents.js';
import { budgetSpent } from './budget.js';
import { emptyUsage, priceFor, ResponseMeter } from './usage.js';

describe('priceFor', () => {
  it('takes the longest matching prefix, else default', () => {
    const prices = { ...DEFAULT_PRICES, 'claude-sonnet-4-5': { input: 1, output: 2, cache_write: 3, cache_read: 4 } };
    expect(priceFor('claude-sonnet-4-5-20250929', prices).input).toBe(1);
    expect(priceFor('claude-sonnet-4-20250514', prices).input).toBe(3);
    expect(priceFor('gpt-9', prices)).toEqual(DEFAULT_PRICES.default);
    expect(priceFor(undefined, prices)).toEqual(DEFAULT_PRICES.default);
  });

  it('prices an unknown model as the dearest when there is no default', () => {
    const prices = { a: { input: 1, output: 9, cache_write: 1, cache_read: 1 }, b: { input: 5, output: 2, cache_write: 0, cache_read: 3 } };
    expect(priceFor('zzz', prices)).toEqual({ input: 5, output: 9, cache_write: 1, cache_read: 3 });
  });
});

describe('ResponseMeter', () => {
  it('adds only what grew of cumulative figures, at the model price', () => {
    const totals = emptyUsage();
    const m = new ResponseMeter(totals, DEFAULT_PRICES);
    m.model('claude-haiku-4-5');
    m.report({ input_tokens: 1000, output_tokens: 1, cache_read_input_tokens: 100 });
    m.report({ output_tokens: 50 });
    m.report({ input_tokens: 1000, output_tokens: 200 });
    m.report({ output_tokens: 'lots', input_tokens: -5 });
    expect(totals).toMatchObject({ input_tokens: 1000, output_tokens: 200, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 });
    expect(totals.cost_usd).toBeCloseTo((1000 * 1 + 200 * 5 + 100 * 0.1) / 1e6, 12);
    // A second response adds to the same totals.
    new ResponseMeter(totals, DEFAULT_PRICES).report({ input_tokens: 10, output_tokens: 10 });
    expect(totals.input_tokens).toBe(1010);
  });
});

describe('budgetSpent', () => {
  it('names the first limit reached', () => {
    const u = { ...emptyUsage(), requests: 3, output_tokens: 500, cost_usd: 0.5 };
    expect(budgetSpent(u, undefined)).toBeNull();
    expect(budgetSpent(u, { max_requests: 4, max_output_tokens: 501, max_cost_usd: 0.51 })).toBeNull();
    expect(budgetSpent(u, { max_requests: 3 })).toMatch(/max_requests 3/);
    expect(budgetSpent(u, { max_output_tokens: 500 })).toMatch(/max_output_tokens 500/);
    expect(budgetSpent(u, { max_cost_usd: 0.5 })).toMatch(/max_cost_usd 0.5 .*\$0\.5000/);
  });
});
