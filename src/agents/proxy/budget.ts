import type { AgentBudget } from '../spec.js';
import type { Usage } from './usage.js';

/** Why the next model request is refused, or null while the budget allows it. */
export function budgetSpent(usage: Usage, budget: AgentBudget | undefined): string | null {
  if (!budget) return null;
  if (budget.max_requests !== undefined && usage.requests >= budget.max_requests) {
    return `max_requests ${budget.max_requests} reached (${usage.requests} requests made)`;
  }
  if (budget.max_output_tokens !== undefined && usage.output_tokens >= budget.max_output_tokens) {
    return `max_output_tokens ${budget.max_output_tokens} reached (${usage.output_tokens} output tokens)`;
  }
  if (budget.max_cost_usd !== undefined && usage.cost_usd >= budget.max_cost_usd) {
    return `max_cost_usd ${budget.max_cost_usd} reached ($${usage.cost_usd.toFixed(4)} spent)`;
  }
  return null;
}
