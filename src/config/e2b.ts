import { z } from 'zod';

/** The E2B SDK compatible API (src/server/compat/e2b/). */
export const E2bConfig = z
  .strictObject({
    /** Where it is served: E2B_API_URL and E2B_SANDBOX_URL both point here; empty: not served. */
    prefix: z
      .string()
      .regex(/^(?:\/[A-Za-z0-9._~-]+)*$/, 'must be empty or a path such as /e2b (no trailing slash)')
      .default('/e2b'),
  })
  .prefault({});
export type E2bConfig = z.infer<typeof E2bConfig>;
