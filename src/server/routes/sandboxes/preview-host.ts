import type { IncomingMessage } from 'node:http';

/** Sandbox ids as src/util/ids.ts makes them: `sbx_` + 26 Crockford base32 digits, lower case. */
export const SANDBOX_ID_RE = /^sbx_[0-9a-hjkmnp-tv-z]{26}$/;

/** A port as written in a URL or host name: 1–65535, no sign, no leading zero. */
export function parsePort(raw: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(raw)) return undefined;
  const port = Number(raw);
  return port <= 65535 ? port : undefined;
}

/** Where host-name requests under the preview domain that do not name a sandbox port go (a 400). */
export const BAD_PREVIEW_HOST_PATH = '/_paddock/preview-host-invalid';

export interface HostTarget {
  id: string;
  port: number;
}

/** Requests that arrived by host name, with where they go; their path is the sandbox server's path unchanged. */
const byHost = new WeakMap<IncomingMessage, HostTarget>();

export const hostTarget = (req: IncomingMessage): HostTarget | undefined => byHost.get(req);

/**
 * Fastify's `rewriteUrl` (it runs before routing): a request whose Host is
 * `<port>-<sandbox id>.<domain>` (any port of the runner) becomes
 * `/v1/sandboxes/<id>/ports/<port><its path>`, so it meets the same hooks (lane,
 * auth) and route as a path preview. Every other host name under the domain is
 * refused rather than served the API: a preview origin never reaches it.
 */
export function previewHostRewrite(domain: string): ((req: IncomingMessage) => string) | undefined {
  if (!domain) return undefined;
  const suffix = `.${domain}`;
  return (req) => {
    const url = req.url ?? '/';
    const host = (req.headers.host ?? '').toLowerCase().replace(/:[0-9]*$/, '');
    if (!host.endsWith(suffix)) return url;
    const m = /^([0-9]{1,5})-(sbx_[0-9a-z]+)$/.exec(host.slice(0, -suffix.length));
    const port = m ? parsePort(m[1]!) : undefined;
    if (!m || port === undefined || !SANDBOX_ID_RE.test(m[2]!) || !url.startsWith('/')) return BAD_PREVIEW_HOST_PATH;
    byHost.set(req, { id: m[2]!, port });
    return `/v1/sandboxes/${m[2]}/ports/${port}${url}`;
  };
}
