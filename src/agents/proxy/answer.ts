import type { ServerResponse } from 'node:http';

export interface ApiError {
  status: number;
  type: string;
  message: string;
}

/**
 * An error in Anthropic's shape, which the CLI's SDK understands. `x-should-retry` tells the SDK
 * whether retrying can help (it obeys the header over its own status rules).
 */
export function sendApiError(res: ServerResponse, e: ApiError, retry?: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: 'error', error: { type: e.type, message: e.message } });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (retry !== undefined) headers['x-should-retry'] = String(retry);
  res.writeHead(e.status, headers).end(body);
}

/** The same error as an SSE `error` event, for a stream whose 200 is already sent. */
export function sseError(e: ApiError): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: e.type, message: e.message } })}\n\n`;
}
