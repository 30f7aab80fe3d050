import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { redactText } from '../redact.js';

/** Never forwarded upstream: the sandbox's own credentials, cookies, hop-by-hop and proxy headers. */
const DROP_UPSTREAM = new Set([
  'x-api-key',
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  // The proxy reads the body for usage, so it asks for it uncompressed.
  'accept-encoding',
]);

/**
 * The client's headers minus credentials and hop-by-hop ones, plus the auth headers. Auth wins
 * over anything the client sent, except `anthropic-beta`, whose flags are merged (OAuth needs its
 * own beta flag beside the CLI's).
 */
export function upstreamHeaders(client: IncomingHttpHeaders, auth: Record<string, string>): OutgoingHttpHeaders {
  const named = new Set(
    String(client.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(client)) {
    if (value === undefined || DROP_UPSTREAM.has(name) || named.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  for (const [rawName, value] of Object.entries(auth)) {
    const name = rawName.toLowerCase();
    if (name === 'anthropic-beta' && out[name]) out[name] = mergeFlags(out[name]!, value);
    else out[name] = value;
  }
  out['accept-encoding'] = 'identity';
  return out;
}

function mergeFlags(a: string, b: string): string {
  const flags = [...a.split(','), ...b.split(',')].map((s) => s.trim()).filter(Boolean);
  return [...new Set(flags)].join(',');
}

/** What the sandbox sees of the upstream's headers: content type, request id, retry and rate-limit hints. */
export function downstreamHeaders(upstream: IncomingHttpHeaders, secrets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue;
    const keep =
      name === 'content-type' ||
      name === 'request-id' ||
      name === 'x-request-id' ||
      name === 'retry-after' ||
      name === 'retry-after-ms' ||
      name === 'x-should-retry' ||
      name === 'cache-control' ||
      name.startsWith('anthropic-ratelimit-');
    if (keep) out[name] = redactText(Array.isArray(value) ? value.join(', ') : value, secrets);
  }
  return out;
}
