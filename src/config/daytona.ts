import { z } from 'zod';

/** The Daytona SDK compatible API (src/server/compat/daytona/). */
export const DaytonaConfig = z
  .strictObject({
    /** Where it is served: `<prefix>/api` (control) and `<prefix>/toolbox` (inside sandboxes); empty: not served. */
    prefix: z
      .string()
      .regex(/^(?:\/[A-Za-z0-9._~-]+)*$/, 'must be empty or a path such as /daytona (no trailing slash)')
      .default('/daytona'),
    /**
     * The runner's URL as clients reach it (behind a proxy: its public origin, e.g. https://paddock.example.com),
     * from which each sandbox's `toolboxProxyUrl` is formed. Empty: the origin each request came to.
     */
    public_url: z
      .union([z.literal(''), z.url({ protocol: /^https?$/ }).max(2048)])
      .transform((u) => u.replace(/\/+$/, ''))
      .default(''),
    /** Milliseconds in one of Daytona's interval minutes (autoStopInterval). Only tests change it. */
    minute_ms: z.number().int().min(100).max(60_000).default(60_000),
  })
  .prefault({});
export type DaytonaConfig = z.infer<typeof DaytonaConfig>;
