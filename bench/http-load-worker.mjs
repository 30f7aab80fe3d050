// A load generator on its own thread: `jobs` jobs submitted with ?wait=true, `concurrency` in flight, each answer checked.
// A runner's clients are other processes; on the runner's own event loop their HTTP and JSON work
// would be counted as the runner's. Used by bench/latency (workerData in, one message out).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { request, timedJob } from './lib.mjs';

const { port, token, spec, jobs, concurrency, expectStdout } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const send = (method, p, b) => request(agent, port, token, method, p, b);

const latencies = [];
let next = 0;
const t0 = performance.now();
try {
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs) }, async () => {
      while (next < jobs) {
        next++;
        latencies.push((await timedJob(send, spec, expectStdout)).ms);
      }
    }),
  );
  parentPort.postMessage({ latencies, totalS: (performance.now() - t0) / 1000 });
} catch (err) {
  parentPort.postMessage({ error: String(err?.message ?? err) });
} finally {
  agent.destroy();
}
