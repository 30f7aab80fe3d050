// Plain JavaScript, so the benchmarks (bench/) use it as the tests do.
import { createServer } from 'node:net';

/** A loopback port free a moment ago (for a server that must know its own address before it starts). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/** A loopback URL nothing listens on: connecting is refused. */
export async function deadUrl() {
  return `http://127.0.0.1:${await freePort()}`;
}
