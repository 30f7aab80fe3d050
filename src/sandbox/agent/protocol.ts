/** Constants of docs/agent-protocol.md (version 1); every limit the runner enforces is named here. */
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 9;
export const MAX_PAYLOAD = 65536;
/** A DATA payload carries one channel byte before the bytes. */
export const MAX_DATA = MAX_PAYLOAD - 1;
export const INITIAL_WINDOW = 262144;
export const MAX_STREAMS = 1024;
export const MAX_PING = 64;
export const MAX_PATH_BYTES = 4096;
export const MAX_LIST_DEPTH = 32;
export const MAX_LIST_ENTRIES = 100000;

export const FrameType = {
  HELLO: 1,
  OPEN: 2,
  DATA: 3,
  EOF: 4,
  WINDOW: 5,
  CONTROL: 6,
  STARTED: 7,
  RESULT: 8,
  ERROR: 9,
  CANCEL: 10,
  PING: 11,
  PONG: 12,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export function isFrameType(n: number): n is FrameType {
  return Number.isInteger(n) && n >= FrameType.HELLO && n <= FrameType.PONG;
}

/** 0: runner → agent (stdin, upload, bytes to a TCP peer); 1: agent → runner; 2: agent → runner (stderr). */
export const Channel = { IN: 0, OUT: 1, ERR: 2 } as const;
export type InboundChannel = typeof Channel.OUT | typeof Channel.ERR;

export const EXEC_SIGNALS = ['TERM', 'KILL', 'INT', 'HUP', 'QUIT', 'USR1', 'USR2', 'STOP', 'CONT', 'WINCH'] as const;
export type ExecSignal = (typeof EXEC_SIGNALS)[number];

/** exec `rlimits` names (soft = hard, set on the child only); values are integers 0 … 2^53. */
export const RLIMIT_NAMES = ['cpu', 'fsize', 'nofile', 'nproc', 'as', 'core', 'stack'] as const;
export type RlimitName = (typeof RLIMIT_NAMES)[number];
export const MAX_RLIMIT = 2 ** 53;
/** exec `wall_ms` at most (a year). */
export const MAX_WALL_MS = 365 * 24 * 3600 * 1000;

export const AGENT_ERROR_CODES = [
  'not_found',
  'exists',
  'not_dir',
  'is_dir',
  'not_empty',
  'permission',
  'invalid',
  'exec_failed',
  'refused',
  'too_many',
  'unsupported',
  'io',
  'cancelled',
] as const;
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];
