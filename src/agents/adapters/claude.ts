import { z } from 'zod';
import type { AgentJobSpec } from '../spec.js';
import type { AgentAdapter, AgentClaim, AgentEvent, AgentInvocation, InvocationContext } from './adapter.js';

/** Text kept per event; the whole text stays in the transcript artifact. */
const TEXT_MAX = 16 * 1024;
/** A prompt above this goes on stdin: Linux caps one argument at 128 KiB. */
const ARGV_PROMPT_MAX = 64 * 1024;
const MAX_ITEMS = 100;

const cut = (s: string, max = TEXT_MAX) => (s.length > max ? `${s.slice(0, max)}…[${s.length - max} more characters]` : s);
const str = z.string().transform((s) => cut(s));
const num = z.number().finite().nullable().catch(null);

const Init = z.object({
  type: z.literal('system'),
  subtype: z.literal('init'),
  session_id: str.optional(),
  model: str.optional(),
  cwd: str.optional(),
  permissionMode: str.optional(),
  claude_code_version: str.optional(),
  tools: z.array(z.string().max(200)).max(1000).optional().catch(undefined),
});

const Block = z.union([
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('tool_use'), id: z.string().max(200), name: z.string().max(200), input: z.unknown() }),
  z.object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().max(200),
    content: z.unknown(),
    is_error: z.boolean().optional(),
  }),
  z.object({ type: z.string() }),
]);

const Message = z.object({
  type: z.enum(['assistant', 'user']),
  message: z.object({ content: z.union([z.string(), z.array(Block).max(1000)]) }),
  parent_tool_use_id: z.string().max(200).nullable().optional(),
});

const Result = z.object({
  type: z.literal('result'),
  subtype: z.string().max(100),
  is_error: z.boolean().catch(true),
  num_turns: num,
  duration_ms: num,
  total_cost_usd: num,
  result: z.string().optional().catch(undefined),
  usage: z.record(z.string().max(100), z.unknown()).optional().catch(undefined),
  permission_denials: z
    .array(z.object({ tool_name: z.string().max(200), tool_use_id: z.string().max(200).nullable().optional() }))
    .optional()
    .catch([]),
});

/** A tool's input as a bounded JSON value: small inputs as they are, big ones as a cut string. */
function boundedJson(value: unknown): unknown {
  const text = JSON.stringify(value) ?? 'null';
  return text.length <= TEXT_MAX ? value : cut(text);
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return JSON.stringify(content) ?? '';
  return content.map((c) => (typeof c?.text === 'string' ? c.text : JSON.stringify(c))).join('\n');
}

/**
 * Claude Code (`claude -p … --output-format stream-json --verbose`). Its lines: `system/init`, then
 * `assistant` (text and tool_use blocks) and `user` (tool_result blocks) messages, then one `result`.
 */
export const claudeAdapter: AgentAdapter = {
  name: 'claude',

  invocation(spec: AgentJobSpec, ctx: InvocationContext): AgentInvocation {
    const argv = ['claude', '-p', '--output-format', 'stream-json', '--verbose'];
    if (spec.model) argv.push('--model', spec.model);
    if (spec.max_turns) argv.push('--max-turns', String(spec.max_turns));
    // The sandbox is the boundary: without a list of allowed tools the CLI may use all of them.
    if (spec.allowed_tools?.length) argv.push('--allowedTools', ...spec.allowed_tools);
    else argv.push('--permission-mode', 'bypassPermissions');
    if (spec.disallowed_tools?.length) argv.push('--disallowedTools', ...spec.disallowed_tools);
    if (spec.system_prompt !== undefined) argv.push('--system-prompt', spec.system_prompt);
    if (spec.append_system_prompt !== undefined) argv.push('--append-system-prompt', spec.append_system_prompt);
    const prompt = Buffer.from(ctx.prompt, 'utf8');
    // `--` ends the options (and the variadic tool lists): a prompt starting with "-" stays a prompt.
    const stdin = prompt.length > ARGV_PROMPT_MAX ? prompt : undefined;
    if (!stdin) argv.push('--', ctx.prompt);
    return {
      argv,
      stdin,
      env: {
        HOME: ctx.home,
        CLAUDE_CONFIG_DIR: `${ctx.home}/.claude`,
        ANTHROPIC_BASE_URL: ctx.modelUrl,
        // The proxy drops it and adds the real credential; the CLI wants some key to start.
        ANTHROPIC_API_KEY: 'paddock-model-proxy',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        CLAUDE_CODE_MAX_RETRIES: '2',
        IS_SANDBOX: '1',
      },
    };
  },

  parseLine(line: string): AgentEvent[] {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return [];
    }
    const init = Init.safeParse(raw);
    if (init.success) {
      const { session_id, model, cwd, permissionMode, claude_code_version, tools } = init.data;
      return [
        {
          type: 'agent.init',
          data: { session_id, model, cwd, permission_mode: permissionMode, version: claude_code_version, tools: tools?.slice(0, MAX_ITEMS) },
        },
      ];
    }
    const result = Result.safeParse(raw);
    if (result.success) {
      const r = result.data;
      return [
        {
          type: 'agent.result',
          data: {
            subtype: r.subtype,
            is_error: r.is_error,
            num_turns: r.num_turns,
            duration_ms: r.duration_ms,
            total_cost_usd: r.total_cost_usd,
            usage: r.usage && boundedJson(r.usage),
            permission_denials: (r.permission_denials ?? []).slice(0, MAX_ITEMS).map((d) => ({
              tool_name: d.tool_name,
              tool_use_id: d.tool_use_id ?? null,
            })),
            result: r.result === undefined ? null : cut(r.result),
          },
        },
      ];
    }
    const msg = Message.safeParse(raw);
    if (!msg.success) return [];
    const { content } = msg.data.message;
    const parent = msg.data.parent_tool_use_id ?? null;
    if (typeof content === 'string') return msg.data.type === 'assistant' ? [{ type: 'agent.text', data: { text: cut(content), parent } }] : [];
    const events: AgentEvent[] = [];
    for (const block of content) {
      if (block.type === 'text' && 'text' in block && msg.data.type === 'assistant') {
        events.push({ type: 'agent.text', data: { text: cut(block.text), parent } });
      } else if (block.type === 'tool_use' && 'name' in block) {
        events.push({ type: 'agent.tool_use', data: { id: block.id, name: block.name, input: boundedJson(block.input), parent } });
      } else if (block.type === 'tool_result' && 'tool_use_id' in block) {
        events.push({
          type: 'agent.tool_result',
          data: { tool_use_id: block.tool_use_id, is_error: block.is_error ?? false, content: cut(resultText(block.content)), parent },
        });
      }
    }
    return events;
  },

  claim(event: AgentEvent): AgentClaim {
    const d = event.data as Partial<AgentClaim>;
    return {
      subtype: typeof d.subtype === 'string' ? d.subtype : 'unknown',
      is_error: d.is_error !== false,
      num_turns: d.num_turns ?? null,
      duration_ms: d.duration_ms ?? null,
      total_cost_usd: d.total_cost_usd ?? null,
      permission_denials: d.permission_denials ?? [],
      result: d.result ?? null,
    };
  },
};

export const ADAPTERS: Record<AgentJobSpec['agent'], AgentAdapter> = { claude: claudeAdapter };
