import { z } from 'zod';
import { protocolError } from './errors.js';
import { AGENT_ERROR_CODES } from './protocol.js';

/*
 * Every JSON payload the agent sends, as zod schemas. The agent runs next to untrusted code, so
 * every string is bounded, every number is a safe integer in its range; unknown fields are
 * dropped (z.object strips them), as the protocol allows either side to add fields.
 */

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const streamId = z.number().int().min(1).max(0xffffffff);
const port = z.number().int().min(0).max(65535);
const noNul = (s: string) => !s.includes('\0');
// Bounded in UTF-16 units, not bytes: the bound is on runner memory, not on the agent's encoding.
const agentPath = z.string().min(1).max(4096).refine(noNul, 'contains NUL');

export const Hello = z.object({
  protocol: z.number().int(),
  version: z.string().max(64),
  pid: count,
});

// Conservative reading: a code outside the document's list is a protocol error, not `io`.
export const AgentErrorBody = z.object({
  code: z.enum(AGENT_ERROR_CODES),
  message: z.string().max(4096),
});

export const OpenAccepted = z.object({
  op: z.literal('accepted'),
  listener: streamId,
  peer_port: port,
});

export const Empty = z.object({});

export const ExecStarted = z.object({ pid: z.number().int().min(1).max(0x7fffffff) });
export const ExecResult = z.object({
  exit_code: z.number().int().min(0).max(255).nullable(),
  signal: z
    .string()
    .max(32)
    .regex(/^SIG[A-Z0-9]+$/)
    .nullable(),
  // Why the agent killed it (docs/agent-protocol.md); an older agent sends none.
  killed: z.enum(['wall', 'cancel']).nullish().transform((k) => k ?? null),
  wall_ms: count,
  cpu_ms: count,
  max_rss_kb: count,
});

export const ReadStarted = z.object({ size: count, mode: z.number().int().min(0).max(0o7777) });
export const SizeResult = z.object({ size: count });

export const Entry = z.object({
  name: z.string().max(1024).refine(noNul, 'contains NUL'),
  path: agentPath,
  type: z.enum(['file', 'dir', 'symlink', 'other']),
  size: count,
  mode: z.number().int().min(0).max(0o7777),
  mtime_ms: z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  // The document says `target?`; a null is read as absent too.
  target: z.string().max(4096).refine(noNul, 'contains NUL').nullish().transform((t) => t ?? undefined),
});
export type Entry = z.infer<typeof Entry>;

export const ListResult = z.object({ count, truncated: z.boolean() });
export const ListenStarted = z.object({ port: z.number().int().min(1).max(65535) });

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A payload that must be one JSON object matching `schema`; anything else is a protocol error. */
export function parsePayload<S extends z.ZodType>(what: string, payload: Uint8Array, schema: S): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch {
    throw protocolError(`${what} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError(`${what} is not a JSON object`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // Names the field, never echoes the agent's value.
    const issue = parsed.error.issues[0];
    throw protocolError(`${what}: ${issue?.path.join('.') || '(object)'} ${issue?.code ?? 'invalid'}`);
  }
  return parsed.data;
}
