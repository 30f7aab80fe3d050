import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { lingerAfterAnswer } from './linger.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A server that refuses after the first chunk of the body, as a full disk does. */
async function refusing(linger: boolean, ms?: number): Promise<number> {
  server = createServer((req, res) => {
    req.once('data', () => {
      req.pause();
      if (linger) lingerAfterAnswer(req, res, ms);
      else res.setHeader('connection', 'close');
      res.writeHead(507, { 'content-type': 'text/plain' }).end('full');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * A plain socket client (no HTTP library's own choices): sends `mib` MiB of body as
 * fast as the socket takes it, then a second request on the same connection.
 * Resolves with everything it read, or the error that ended it.
 */
function upload(port: number, mib: number): Promise<{ read: string; error?: string }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let read = '';
    sock.on('data', (d) => (read += d.toString('latin1')));
    sock.on('error', (err) => resolve({ read, error: (err as NodeJS.ErrnoException).code }));
    sock.on('close', () => resolve({ read }));
    sock.write(`PUT /a HTTP/1.1\r\nhost: x\r\ncontent-length: ${mib << 20}\r\n\r\n`);
    const chunk = Buffer.alloc(1 << 16);
    let left = mib << 20;
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      sock.end('PUT /b HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx');
    };
    pump();
  });
}

describe('lingerAfterAnswer', () => {
  it('a client still sending reads the refusal, not a broken pipe, and the rest of a short body is drained', async () => {
    const port = await refusing(true);
    for (let i = 0; i < 3; i++) {
      const seen = await upload(port, 64);
      expect(seen.error).toBeUndefined();
      // Both answered: the refused body was read to its end, and the connection stayed usable.
      expect(seen.read.match(/HTTP\/1.1 507/g)).toHaveLength(2);
    }
  });

  it('a body that goes on past the linger time has its connection cut', async () => {
    const port = await refusing(true, 100);
    const started = Date.now();
    const cut = new Promise<number>((resolve) => server!.once('connection', (s) => s.once('close', () => resolve(Date.now()))));
    const req = request({ port, host: '127.0.0.1', method: 'PUT', headers: { 'content-length': String(1 << 30) } });
    req.on('response', (res) => res.resume());
    req.on('error', () => {});
    // A trickle that never ends.
    const timer = setInterval(() => req.write('x'), 20);
    const at = await cut;
    clearInterval(timer);
    req.destroy();
    expect(at - started).toBeGreaterThanOrEqual(100);
    expect(at - started).toBeLessThan(2000);
  });
});
