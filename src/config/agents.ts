import { z } from 'zod';
import { Limits } from './schema-limits.js';

/** USD per million tokens; a model not listed is priced by the longest matching prefix, else `default`. */
const Price = z.strictObject({
  input: z.number().min(0),
  output: z.number().min(0),
  cache_write: z.number().min(0),
  cache_read: z.number().min(0),
});
export type Price = z.infer<typeof Price>;

/** Anthropic's list prices (2026) per million tokens; an unknown model is priced as the dearest. */
export const DEFAULT_PRICES: Record<string, Price> = {
  'claude-opus-4': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-sonnet-4': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-3-7-sonnet': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-haiku-4': { input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_write: 1, cache_read: 0.08 },
  default: { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
};

/** Agent jobs (src/agents/): the CLI's image, the model proxy's upstream and credentials, the repository cache. */
export const AgentsConfig = z
  .strictObject({
    /** Paddock image the agent CLI runs in (scripts/build-images.sh builds `agent`). */
    image: z.string().min(1).default('agent'),
    /** Limits of an agent job that names none (each still capped by `limits.max`). */
    limits: Limits.partial().default({}),
    /** No stream event from the CLI for this long ends the job `timed_out`; each event starts it again. */
    idle_timeout_ms: z.number().int().min(1000).default(600_000),
    model_api: z
      .strictObject({
        /** Where the model proxy forwards the Messages API; ANTHROPIC_BASE_URL in the runner's env when unset. */
        base_url: z.string().url().default('https://api.anthropic.com'),
        /** ANTHROPIC_API_KEY in the runner's env when unset; empty: the OAuth credentials file is used. */
        api_key: z.string().default(''),
        /** Per-request upstream timeout (headers and each gap in the body). */
        timeout_ms: z.number().int().min(1000).default(600_000),
      })
      .default({ base_url: 'https://api.anthropic.com', api_key: '', timeout_ms: 600_000 }),
    oauth: z
      .strictObject({
        /** Claude Code's `.credentials.json`; empty means `<data_dir>/agent/.credentials.json` (0600). */
        credentials_file: z.string().default(''),
        /** Claude Code 2.1.197's token endpoint (console.anthropic.com's was retired). */
        token_url: z.string().url().default('https://platform.claude.com/v1/oauth/token'),
        /** Claude Code's public OAuth client id. */
        client_id: z.string().min(1).default('9d1c250a-e61b-44d9-88ed-5944d1962f5e'),
        /** An access token is refreshed this long before it expires (when a refresh token exists). */
        refresh_before_ms: z.number().int().min(0).default(300_000),
      })
      .default({
        credentials_file: '',
        token_url: 'https://platform.claude.com/v1/oauth/token',
        client_id: '9d1c250a-e61b-44d9-88ed-5944d1962f5e',
        refresh_before_ms: 300_000,
      }),
    prices: z.record(z.string().min(1).max(100), Price).default(DEFAULT_PRICES),
    repos: z
      .strictObject({
        /** Bare mirrors, one per repository; empty means `<data_dir>/repos`. */
        cache_dir: z.string().default(''),
        /** Least recently used mirrors are removed beyond this many bytes. */
        max_bytes: z.number().int().min(0).default(10 * 1024 ** 3),
        /** `file://` URLs and local paths as repositories (tests, trusted single-user hosts). */
        allow_local: z.boolean().default(false),
        /** Plain `http://` repositories (only loopback makes sense; tests). */
        allow_http: z.boolean().default(false),
        /** Clone, fetch and push each get at most this long. */
        git_timeout_ms: z.number().int().min(1000).default(600_000),
      })
      .default({ cache_dir: '', max_bytes: 10 * 1024 ** 3, allow_local: false, allow_http: false, git_timeout_ms: 600_000 }),
    /** Largest artifact one agent job stores (diff, transcript, final text); past it the artifact is cut and marked. */
    max_artifact_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
    /**
     * Compatibility routes for existing runner clients (`POST /execute`, `POST /job/cancel`): the
     * `X-Runner-Secret` they send. Empty turns those routes off.
     */
    runner_secret: z.string().default(''),
  })
  .prefault({});
export type AgentsConfig = z.infer<typeof AgentsConfig>;
