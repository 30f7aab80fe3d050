// A load generator on its own thread: `jobs` requests, `concurrency` in flight, each answer checked.
// A runner's clients are other processes; on the runner's own event loop their HTTP and JSON work
// would be counted as the runner's. Used by bench/latency (workerData in, one message out).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const { port, token, path, body, jobs, concurrency, expectStdout } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const payload = JSON.stringify(body);

function once() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      {
        agent, host: '127.0.0.1', port, method: 'POST', path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const ms = performance.now() - t0;
          let job;
          try {
            job = JSON.parse(text);
          } catch {
            return reject(new Error(`HTTP ${res.statusCode}: not JSON: ${text.slice(0, 300)}`));
          }
          if (res.statusCode !== 201 || job.state !== 'succeeded' || job.result?.stdout !== expectStdout) {
            return reject(new Error(`job did not succeed: HTTP ${res.statusCode} ${text.slice(0, 600)}`));
          }
          resolve(ms);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const latencies = [];
let next = 0;
const t0 = performance.now();
try {
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs) }, async () => {
      while (next < jobs) {
        next++;
        latencies.push(await once());
      }
    }),
  );
  parentPort.postMessage({ latencies, totalS: (performance.now() - t0) / 1000 });
} catch (err) {
  parentPort.postMessage({ error: String(err?.message ?? err) });
} finally {
  agent.destroy();
}
