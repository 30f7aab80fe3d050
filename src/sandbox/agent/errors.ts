import { type ErrorCode, PaddockError } from '../../errors.js';
import type { AgentErrorCode } from './protocol.js';

/**
 * Where an agent's answer has a Paddock meaning it keeps it (a missing file is `not_found`); the
 * rest is the sandbox failing the request (`driver_error`). The agent's own code stays in `agentCode`.
 */
const PADDOCK_CODE: Record<AgentErrorCode, ErrorCode> = {
  not_found: 'not_found',
  exists: 'conflict',
  not_empty: 'conflict',
  not_dir: 'validation_failed',
  is_dir: 'validation_failed',
  invalid: 'validation_failed',
  too_many: 'limit_exceeded',
  permission: 'driver_error',
  exec_failed: 'driver_error',
  refused: 'driver_error',
  unsupported: 'driver_error',
  io: 'driver_error',
  cancelled: 'driver_error',
};

/** An operation the agent answered with `ERROR {code, message}`; the connection is fine. */
export class AgentError extends PaddockError {
  readonly agentCode: AgentErrorCode;

  constructor(agentCode: AgentErrorCode, message: string) {
    super(PADDOCK_CODE[agentCode], message, { agent_code: agentCode });
    this.name = 'AgentError';
    this.agentCode = agentCode;
  }
}

/** The agent broke docs/agent-protocol.md; the connection is closed and the sandbox counts as dead. */
export function protocolError(message: string): PaddockError {
  return new PaddockError('agent_protocol_error', `agent protocol error: ${message}`);
}

export function agentDied(message: string, cause?: unknown): PaddockError {
  return new PaddockError('agent_died', `sandbox agent died: ${message}`, undefined, cause ? { cause } : undefined);
}

export function isProtocolError(err: unknown): err is PaddockError {
  return err instanceof PaddockError && err.code === 'agent_protocol_error';
}
