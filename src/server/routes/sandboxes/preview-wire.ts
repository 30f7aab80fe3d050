import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** Where a preview credential may travel; none of them reaches the sandbox. */
export const PREVIEW_QUERY = 'paddock_preview_token';
export const PREVIEW_COOKIE = 'paddock_preview_token';
export const PREVIEW_HEADER = 'x-paddock-preview-token';

/** A preview request: the sandbox port, and the path as the server in the sandbox gets it. */
export interface PreviewTarget {
  id: string;
  port: number;
  /** Path and query for the sandbox's server (the preview token left out). */
  path: string;
  /** What the client's path has before `path`: `/v1/sandboxes/:id/ports/:port`, or '' by host name. */
  prefix: string;
}

/** Per hop, never forwarded (RFC 9110 §7.6.1), plus what a proxy must not pass on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Header names a message's own Connection header marks as hop-by-hop. */
function connectionListed(raw: string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) out.add(t.trim().toLowerCase());
  }
  out.delete('upgrade');
  return out;
}

/** rawHeaders as name → values, lower-case names, in order. */
function grouped(raw: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const values = out.get(name);
    if (values) values.push(raw[i + 1]!);
    else out.set(name, [raw[i + 1]!]);
  }
  return out;
}

/**
 * A message's headers without the hop-by-hop ones (an upgrade keeps Connection and Upgrade), as
 * name → value(s): what one proxy hop passes on unchanged (src/fleet/sandbox-proxy.ts).
 */
export function endToEndHeaders(raw: string[], upgrade: boolean): Record<string, string | string[]> {
  const listed = connectionListed(raw);
  const out: Record<string, string | string[]> = {};
  for (const [name, values] of grouped(raw)) {
    if ((HOP_BY_HOP.has(name) && !(upgrade && (name === 'connection' || name === 'upgrade'))) || listed.has(name)) continue;
    out[name] = values.length === 1 && name !== 'set-cookie' ? values[0]! : values;
  }
  return out;
}

/** `a=1; paddock_preview_token=…; b=2` → `a=1; b=2` (undefined when nothing is left). */
export function withoutPreviewCookie(values: string[]): string | undefined {
  const kept = values
    .flatMap((v) => v.split(';'))
    .map((p) => p.trim())
    .filter((p) => p !== '' && (p.includes('=') ? p.slice(0, p.indexOf('=')) : p).trim() !== PREVIEW_COOKIE);
  return kept.length ? kept.join('; ') : undefined;
}

/** Every value of the preview cookie in a Cookie header (a page may have planted others under the same name). */
export function previewCookies(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(`${PREVIEW_COOKIE}=`))
    .map((p) => p.slice(PREVIEW_COOKIE.length + 1));
}

const decoded = (v: string): string => {
  try {
    return decodeURIComponent(v.replace(/\+/g, ' '));
  } catch {
    return v;
  }
};

/** `?a=1&paddock_preview_token=x&b` → the token values, and the URL without them (everything else byte for byte). */
export function splitPreviewQuery(url: string): { url: string; tokens: string[] } {
  const q = url.indexOf('?');
  if (q < 0) return { url, tokens: [] };
  const tokens: string[] = [];
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      if ((eq < 0 ? part : part.slice(0, eq)) !== PREVIEW_QUERY) return true;
      tokens.push(decoded(eq < 0 ? '' : part.slice(eq + 1)));
      return false;
    });
  return { url: kept.length ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q), tokens };
}

/**
 * The headers the sandbox's server gets: the client's, without hop-by-hop ones
 * (an upgrade keeps `Connection: upgrade` and `Upgrade`), without `Expect` (the
 * runner answered it), and without Paddock's credentials (Authorization, the
 * preview header and cookie). Host is kept; X-Forwarded-For gets the client's
 * address appended, X-Forwarded-Proto/-Host are set unless a proxy in front set
 * them, X-Forwarded-Prefix says where a path preview is mounted.
 */
export function upstreamHeaders(req: IncomingMessage, target: PreviewTarget, upgrade: boolean): OutgoingHttpHeaders {
  const listed = connectionListed(req.rawHeaders);
  const out: OutgoingHttpHeaders = {};
  for (const [name, values] of grouped(req.rawHeaders)) {
    if (HOP_BY_HOP.has(name) || listed.has(name) || name === 'expect' || name === 'authorization' || name === PREVIEW_HEADER) continue;
    if (name === 'cookie') {
      const rest = withoutPreviewCookie(values);
      if (rest !== undefined) out.cookie = rest;
    } else out[name] = values.length === 1 ? values[0] : values;
  }
  if (upgrade) {
    out.connection = 'upgrade';
    out.upgrade = req.headers.upgrade ?? 'websocket';
  } else out.connection = 'close';
  const addr = req.socket.remoteAddress ?? '';
  const xff = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${addr}` : addr;
  out['x-forwarded-proto'] ??= 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  if (req.headers.host) out['x-forwarded-host'] ??= req.headers.host;
  if (target.prefix) out['x-forwarded-prefix'] = target.prefix;
  else delete out['x-forwarded-prefix'];
  return out;
}

/**
 * The sandbox server's response headers for the client: hop-by-hop ones
 * dropped (a 101 keeps Connection/Upgrade), a Set-Cookie that would plant the
 * preview cookie dropped, and on a path preview a Location of an absolute path
 * put under the preview's prefix (as a reverse proxy's ProxyPassReverse does).
 */
export function downstreamHeaders(res: IncomingMessage, target: PreviewTarget): Record<string, string | string[]> {
  const switching = res.statusCode === 101;
  const listed = connectionListed(res.rawHeaders);
  const out: Record<string, string | string[]> = {};
  for (const [name, values] of grouped(res.rawHeaders)) {
    if ((HOP_BY_HOP.has(name) && !(switching && (name === 'connection' || name === 'upgrade'))) || listed.has(name)) continue;
    let kept = values;
    if (name === 'set-cookie') kept = values.filter((v) => v.split('=')[0]!.trim() !== PREVIEW_COOKIE);
    if (name === 'location' && target.prefix) kept = values.map((v) => (v.startsWith('/') && !v.startsWith('//') ? target.prefix + v : v));
    if (kept.length) out[name] = kept.length === 1 && name !== 'set-cookie' ? kept[0]! : kept;
  }
  return out;
}

/** `HTTP/1.1 101 …` and the headers, as bytes for a socket the runner hands over to a tunnel. */
export function switchingHead(res: IncomingMessage, target: PreviewTarget): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (const [name, value] of Object.entries(downstreamHeaders(res, target))) {
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  return `${head}\r\n`;
}
