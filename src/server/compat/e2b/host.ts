import type { IncomingMessage } from 'node:http';
import { SANDBOX_ID_RE } from '../../routes/sandboxes/preview-host.js';

/** The port envd listens on in an E2B sandbox, and so the first label of its host name. */
export const ENVD_PORT = 49983;

/**
 * E2B's production routing for Fastify's `rewriteUrl`: with `E2B_DOMAIN=<domain>` the SDK calls
 * `https://api.<domain>/…` (control) and `https://49983-<sandbox id>.<domain>/…` (envd); both
 * become the path form under `prefix`. The envd host's sandbox id must match the request's
 * `E2b-Sandbox-Id` (set when absent), so a host name cannot point one sandbox's token at another.
 * Other hosts are left to `next` (the preview host names).
 */
export function e2bHostRewrite(domain: string, prefix: string, next?: (req: IncomingMessage) => string): ((req: IncomingMessage) => string) | undefined {
  if (!domain || !prefix) return next;
  const suffix = `.${domain}`;
  return (req) => {
    const url = req.url ?? '/';
    const host = (req.headers.host ?? '').toLowerCase().replace(/:[0-9]*$/, '');
    if (host.endsWith(suffix) && url.startsWith('/')) {
      const label = host.slice(0, -suffix.length);
      if (label === 'api') return `${prefix}${url}`;
      const m = new RegExp(`^${ENVD_PORT}-(sbx_[0-9a-z]+)$`).exec(label);
      if (m && SANDBOX_ID_RE.test(m[1]!)) {
        const named = req.headers['e2b-sandbox-id'];
        if (named === undefined) req.headers['e2b-sandbox-id'] = m[1]!;
        else if (named !== m[1]) req.headers['e2b-sandbox-id'] = 'mismatch';
        return `${prefix}${url}`;
      }
    }
    return next ? next(req) : url;
  };
}
