import type { IncomingMessage, ServerResponse } from 'node:http';

/** How long a refused body is still read and thrown away after the answer. */
export const LINGER_MS = 2000;

/**
 * For an answer sent before the request's body has all arrived (a refusal part
 * way through an upload). Closing at once would leave the rest unread, and the
 * kernel answers unread data with a reset that can reach the client before it
 * has read the answer: it sees a broken pipe instead of the problem. So, as
 * nginx's lingering close does, the rest is read and discarded once the answer
 * is out, for at most `ms`; then the connection is cut. A body that ends in
 * time leaves a connection that can be used again.
 */
export function lingerAfterAnswer(req: IncomingMessage, res: ServerResponse, ms = LINGER_MS): void {
  if (req.readableEnded) return;
  const start = () => {
    if (req.readableEnded) return;
    const cut = setTimeout(() => req.socket.destroy(), ms);
    cut.unref();
    req.once('end', () => clearTimeout(cut));
    req.once('close', () => clearTimeout(cut));
    req.unpipe();
    req.resume();
  };
  if (res.writableFinished) start();
  else res.once('finish', start);
}
