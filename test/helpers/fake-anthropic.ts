import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { errorJson, estimateTokens, json, play } from './fake-anthropic-play.js';

/**
 * A scripted Anthropic Messages API on 127.0.0.1, speaking the wire format of the real one
 * (https://docs.anthropic.com/en/api/messages-streaming, /en/api/errors): each `POST /v1/messages`
 * plays the next Turn of the script, as SSE when the body asks `stream: true`, else as one JSON
 * message. Past the script's end every request gets the text "done" and `end_turn`.
 *
 * What Claude Code 2.1.197 does against it (checked with the real CLI, `claude -p … --output-format
 * stream-json --verbose --permission-mode bypassPermissions`, CLAUDE_CODE_MAX_RETRIES=1, as uid 65534):
 * - requests: `HEAD /` first (no key; a reachability probe), then one `POST /v1/messages?beta=true`
 *   with `stream: true` per model turn, `x-api-key: <ANTHROPIC_API_KEY>`, `anthropic-version: 2023-06-01`,
 *   `anthropic-beta: claude-code-20250219,…`, `accept-encoding: gzip, deflate, br, zstd`, `x-app: cli`;
 *   nothing else with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1. Default model `claude-opus-4-8`.
 * - stdout, one JSON object a line (test/fixtures/claude-stream.jsonl is a real one):
 *   `{"type":"system","subtype":"init",cwd,session_id,tools,model,permissionMode,…}`; per content block
 *   of each turn `{"type":"assistant","message":{…,"content":[one text|tool_use block]}}` (a turn with
 *   text and a tool_use gives two lines); after each tool run `{"type":"user","message":{"content":
 *   [{"type":"tool_result",tool_use_id,content,is_error}]},tool_use_result}`; last `{"type":"result",
 *   "subtype":"success"|"error_max_turns",is_error,api_error_status,duration_ms,duration_api_ms,
 *   num_turns,result,stop_reason,session_id,total_cost_usd,usage,modelUsage,permission_denials,
 *   terminal_reason}` (error_max_turns has no `result` but `errors: ["Reached maximum number of turns (N)"]`).
 * - success: exit 0. --max-turns reached: `error_max_turns`, is_error true, exit 1.
 * - 429 / 500 / 529: retried CLAUDE_CODE_MAX_RETRIES times (2 requests), then a synthetic assistant
 *   line (model "<synthetic>") and `result` with subtype "success", `is_error: true`,
 *   `api_error_status: 429|500|529`, `result: "API Error: …"`; exit 1.
 * - a broken stream (`malformed`): stderr "Could not parse message into JSON", one retry as a
 *   non-streaming request (no `stream` field), then `is_error: true`, `api_error_status: null`,
 *   `result: "API Error: Connection to the API was lost (ECONNRESET)…"`; exit 1.
 * - `hang`: the CLI waits (past 90 s; its own timeout is 600 s). Through the model proxy, whose
 *   timeout ends the stream with an SSE `error` event, it falls back to non-streaming and then ends
 *   `is_error: true`, "API returned an empty or malformed response (HTTP 200)"; exit 1.
 * - 400 (how the model proxy refuses a request past the job's budget): not retried; `is_error: true`,
 *   `api_error_status: 400`, `result: "API Error: 400 <message>"`; exit 1.
 */

export interface ToolUseTurn {
  name: string;
  input: Record<string, unknown>;
  id?: string;
}

export interface TurnUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export type Turn =
  | {
      text?: string;
      tool_use?: ToolUseTurn;
      stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'pause_turn' | 'refusal';
      usage?: TurnUsage;
      /** Pause before the headers, and between the events of a stream (split evenly). */
      delay_ms?: number;
      model?: string;
    }
  | { error: { status: number; type: string; message: string }; retry_after_s?: number }
  /** 200 and a stream that breaks off in the middle of an event with invalid JSON. */
  | { malformed: true }
  /** Headers, then nothing until the client or close() ends it. */
  | { hang: true };

export interface RecordedRequest {
  method: string;
  /** Path with the query, as sent. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

export interface FakeAnthropic {
  url: string;
  requests: RecordedRequest[];
  setScript(turns: Turn[]): void;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;
const DEFAULT_MODEL = 'claude-sonnet-4-5-20250929';

export async function startFakeAnthropic(
  opts: { script?: Turn[]; handler?: (req: RecordedRequest) => Turn | Promise<Turn> } = {},
): Promise<FakeAnthropic> {
  let script = [...(opts.script ?? [])];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(rec);
      void route(rec, res).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function route(rec: RecordedRequest, res: http.ServerResponse): Promise<void> {
    const pathname = rec.path.split('?')[0];
    if ((rec.method === 'HEAD' || rec.method === 'GET') && pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end();
      return;
    }
    if (rec.method === 'POST' && pathname === '/v1/messages/count_tokens') {
      json(res, 200, { input_tokens: estimateTokens(rec.body) });
      return;
    }
    if (rec.method !== 'POST' || pathname !== '/v1/messages') {
      errorJson(res, 404, 'not_found_error', 'Not found');
      return;
    }
    const turn = opts.handler ? await opts.handler(rec) : (script.shift() ?? { text: 'done' });
    const stream = typeof rec.body === 'object' && rec.body !== null && (rec.body as { stream?: unknown }).stream === true;
    const reqModel = typeof rec.body === 'object' && rec.body !== null ? (rec.body as { model?: unknown }).model : undefined;
    await play(turn, res, stream, typeof reqModel === 'string' ? reqModel : DEFAULT_MODEL, estimateTokens(rec.body));
  }

  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setScript(turns) {
      script = [...turns];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
