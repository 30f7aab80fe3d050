/** Larger than any answer Paddock asks GitHub for (a page of 100 comments of 64 KB each is 6.4 MB). */
export const MAX_GITHUB_RESPONSE_BYTES = 16 * 1024 * 1024;
export const GITHUB_TIMEOUT_MS = 30_000;

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * fetch for Octokit with a deadline per request and a cap on the answer's size: `api_url` is
 * configuration, and a misconfigured or hostile endpoint must not hold a job or fill the heap.
 * The body is read here, then handed on as a new Response.
 */
export function boundedFetch(maxBytes = MAX_GITHUB_RESPONSE_BYTES, timeoutMs = GITHUB_TIMEOUT_MS): typeof fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const res = await fetch(input, { ...init, signal });
    const body = NULL_BODY.has(res.status) ? null : await readCapped(res, maxBytes);
    const copy = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(copy, 'url', { value: res.url });
    return copy;
  };
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new Error(`GitHub's answer is ${declared} bytes, more than ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const next = reader ? await reader.read() : { done: true as const, value: undefined };
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxBytes) {
      await reader!.cancel().catch(() => {});
      throw new Error(`GitHub's answer is more than ${maxBytes} bytes`);
    }
    chunks.push(next.value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
