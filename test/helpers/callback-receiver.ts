import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the receiver saw it: raw body bytes and lower-cased headers. */
export interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
}

/** What the receiver answers a request with; `hang` never answers (until the receiver closes). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  received: Received[];
  /** Decides the answer to each request (default 204). */
  answer: (req: Received, n: number) => Answer;
  /** Resolves once `n` requests have come in (or rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  /** Answers every request held by `hang` with 204. */
  release(): void;
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records callbacks, for tests of their delivery. */
export async function startReceiver(answer: Receiver['answer'] = () => ({ status: 204 })): Promise<Receiver> {
  const received: Received[] = [];
  const held: http.ServerResponse[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // kept raw
      }
      const r: Received = { at: Date.now(), headers: req.headers, raw, body };
      received.push(r);
      for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
      const a = receiver.answer(r, received.length);
      if (a === 'hang') return void held.push(res);
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}`,
    received,
    answer,
    waitFor(n, ms = 15_000) {
      if (received.length >= n) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${received.length} of ${n} requests`)), ms);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve(received)) });
      });
    },
    release() {
      for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(204).end();
    },
    async close() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
