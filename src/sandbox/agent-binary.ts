import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every sandbox sees the agent (bind-mounted read-only). */
export const AGENT_IN_SANDBOX = '/.paddock/agent';

/**
 * The host path of the in-sandbox agent that scripts/build-agent.sh builds: dist/agent/paddock-agent
 * of this package. This module sits two levels below the package root both as source
 * (src/sandbox/) and compiled (dist/sandbox/), so one relative path serves both.
 */
export function agentBinaryPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/agent/paddock-agent');
}

/** The host-side process that forks bwrap sandboxes for the runner (spawner/), built beside the agent. */
export function spawnerBinaryPath(): string {
  return path.join(path.dirname(agentBinaryPath()), 'paddock-spawner');
}

/** Why the agent cannot be used, in words an operator can act on; undefined when it can. */
export function agentBinaryMissing(file = agentBinaryPath(), what = 'the sandbox agent'): string | undefined {
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return `${what} ${file} is not built (bash scripts/build-agent.sh)`;
  }
}
