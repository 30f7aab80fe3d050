import { z } from 'zod';
import { DOMAIN_RE } from '../util/grammar.js';

/** The E2B SDK compatible API (src/server/compat/e2b/). */
export const E2bConfig = z
  .strictObject({
    /** Where it is served: E2B_API_URL and E2B_SANDBOX_URL both point here; empty: not served. */
    prefix: z
      .string()
      .regex(/^(?:\/[A-Za-z0-9._~-]+)*$/, 'must be empty or a path such as /e2b (no trailing slash)')
      .default('/e2b'),
    /**
     * E2B's production routing (`E2B_DOMAIN`): requests for `api.<domain>` are the control API and
     * `49983-<sandbox id>.<domain>` that sandbox's envd, behind a TLS proxy with a wildcard
     * certificate. Empty: only the path form under `prefix`.
     */
    domain: z
      .string()
      .transform((d) => d.trim().toLowerCase().replace(/^\.+|\.+$/g, ''))
      .pipe(z.union([z.literal(''), z.string().max(200).regex(DOMAIN_RE, 'must be a DNS name such as e2b.example.com')]))
      .default(''),
  })
  .prefault({});
export type E2bConfig = z.infer<typeof E2bConfig>;
