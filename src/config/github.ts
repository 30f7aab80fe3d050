import { z } from 'zod';

/** GitHub (src/github/): the API, how Paddock authenticates, and what starts an agent job from a webhook. */
export const GithubConfig = z
  .strictObject({
    /** REST API base (GitHub Enterprise: https://HOST/api/v3). */
    api_url: z.string().url().default('https://api.github.com'),
    /** Where repositories are cloned from and pushed to: `<git_url>/<owner>/<repo>.git`. */
    git_url: z.string().url().default('https://github.com'),
    /** A token (PAT or fine-grained) with contents, issues and pull-requests write; GITHUB_TOKEN when unset. */
    token: z.string().default(''),
    /** GitHub App auth instead of a token: app id, its private key (PEM text or a file path) and the installation. */
    app_id: z.number().int().min(0).default(0),
    private_key: z.string().default(''),
    installation_id: z.number().int().min(0).default(0),
    /** Verifies `X-Hub-Signature-256` of `POST /v1/github/webhook`; empty turns the webhook off. */
    webhook_secret: z.string().default(''),
    /** An issue given this label starts an agent job on it. */
    trigger_label: z.string().min(1).max(50).default('paddock'),
    /** An issue or comment mentioning this starts an agent job (claude-code-action's `@claude`). */
    trigger_phrase: z.string().min(2).max(50).default('@paddock'),
    /** Only these `owner/repo` may trigger jobs by webhook; empty: any the credentials can reach. */
    allowed_repos: z.array(z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/)).default([]),
  })
  .prefault({});
export type GithubConfig = z.infer<typeof GithubConfig>;
