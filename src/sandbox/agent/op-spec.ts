import type { z } from 'zod';
import * as m from './messages.js';
import { Channel, type InboundChannel } from './protocol.js';

/** What the agent may send on a stream of one operation; anything else on it is a protocol error. */
export interface OpSpec {
  started: z.ZodType | null;
  result: z.ZodType;
  /** Channels the agent writes on this stream. */
  inbound: readonly InboundChannel[];
  /** Whether the runner writes channel 0 (so the agent may grant credit on it). */
  outbound: boolean;
}

const spec = (s: OpSpec): OpSpec => s;
const OUT = [Channel.OUT] as const;

export const SPECS = {
  // Channel 2 with a PTY too: the agent ends exec with EOF on 1 and 2 either way.
  exec: spec({ started: m.ExecStarted, result: m.ExecResult, inbound: [Channel.OUT, Channel.ERR], outbound: true }),
  write: spec({ started: null, result: m.SizeResult, inbound: [], outbound: true }),
  read: spec({ started: m.ReadStarted, result: m.SizeResult, inbound: OUT, outbound: false }),
  stat: spec({ started: null, result: m.Entry, inbound: [], outbound: false }),
  list: spec({ started: null, result: m.ListResult, inbound: OUT, outbound: false }),
  mkdir: spec({ started: null, result: m.Empty, inbound: [], outbound: false }),
  remove: spec({ started: null, result: m.Empty, inbound: [], outbound: false }),
  rename: spec({ started: null, result: m.Empty, inbound: [], outbound: false }),
  connect: spec({ started: m.Empty, result: m.Empty, inbound: OUT, outbound: true }),
  listen: spec({ started: m.ListenStarted, result: m.Empty, inbound: [], outbound: false }),
  accepted: spec({ started: null, result: m.Empty, inbound: OUT, outbound: true }),
};
export type OpKind = keyof typeof SPECS;
