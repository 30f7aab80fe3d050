// Shared by the benches: stats, baseline spawns, and a runner started in-process.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../dist/config/load.js';
import { startRuntime } from '../dist/runtime.js';
import { buildServer } from '../dist/server/app.js';
import { createLogger } from '../dist/util/log.js';

const REQUEST_TIMEOUT_MS = 120_000;
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;

export function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return n;
}

// ---- stats ---------------------------------------------------------------

export function quantile(sorted, q) {
  // Nearest-rank: the smallest sample with at least q of the samples at or below it.
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function summarize(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    median: round(quantile(s, 0.5)),
    p99: round(quantile(s, 0.99)),
    min: round(s[0]),
    max: round(s.at(-1)),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

export const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

// ---- baselines: spawn from this process ------------------------------------

export function spawnOnce(argv) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const ms = performance.now() - t0;
      if (code !== 0 || out !== 'hi\n') {
        reject(new Error(`${argv.join(' ')} → code ${code} signal ${signal} stdout ${JSON.stringify(out)} stderr ${JSON.stringify(err)}`));
      } else resolve(ms);
    });
  });
}

// ---- the runner ------------------------------------------------------------

/** A real runner in this process (temp data dir, silent logs) and a keep-alive client for it. */
export async function startRunner(flags, maxSockets = 64) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-'));
  // env: only PADDOCK_CONFIG='' so no paddock.toml or PADDOCK_* from the caller's shell changes the runner.
  const config = loadConfig({
    env: { PADDOCK_CONFIG: '' },
    flags: {
      data_dir: dataDir,
      host: '127.0.0.1',
      port: 0,
      log_level: 'silent',
      ...flags,
    },
  });
  const rt = await startRuntime(config, createLogger(config.log_level));
  let app;
  try {
    app = await buildServer(rt);
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await rt.close().catch(() => undefined);
    throw err;
  }
  const { port } = app.server.address();
  const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  let closed = false;
  return {
    rt,
    config,
    dataDir,
    port,
    token,
    request: (method, p, body) => request(agent, port, token, method, p, body),
    async close() {
      if (closed) return;
      closed = true;
      agent.destroy();
      await app.close();
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Submits a job with `send(method, path, body)` and waits for it (`?wait=true`); fails loudly unless it
 * succeeded, exited 0 and printed `stdout`. Resolves with the request's ms and the job.
 */
export async function timedJob(send, spec, stdout) {
  const t0 = performance.now();
  const res = await send('POST', '/v1/jobs?wait=true', spec);
  const ms = performance.now() - t0;
  const job = res.body;
  if (res.status !== 201 || job?.state !== 'succeeded' || job?.result?.exit_code !== 0 || job?.result?.stdout !== stdout) {
    throw new Error(`job did not succeed: HTTP ${res.status} ${JSON.stringify(job).slice(0, 600)}`);
  }
  return { ms, job };
}

/** One request on `agent`; resolves with the status and the body (parsed when JSON). */
export function request(agent, port, token, method, p, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path: p,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${p} timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// ---- a real `paddock serve` process ------------------------------------------

/** A real `paddock serve` process on bwrap with `env` (PADDOCK_* of the caller left out), its RSS readable. */
export async function startServe(dataDir, env = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PADDOCK_')));
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
    env: { ...base, PADDOCK_DRIVERS: 'bwrap', PADDOCK_CONFIG: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (t) => (stderr += t));
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`paddock serve did not start:\n${stderr}`)), 30_000);
    const check = () => {
      const m = /paddock: listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stderr.on('data', check);
    exited.then(({ code }) => reject(new Error(`paddock serve exited (${code}):\n${stderr}`)));
  });
  const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const { port } = new URL(url);
  return {
    proc,
    url,
    port: Number(port),
    token,
    stderr: () => stderr,
    rssMb: () => statusKb(proc.pid, 'VmRSS') / 1024,
    /** Resets the peak-RSS mark to the current RSS (Linux ≥ 4.0), so VmHWM then is the peak since now. */
    resetPeak: () => writeFileSync(`/proc/${proc.pid}/clear_refs`, '5'),
    peakMb: () => statusKb(proc.pid, 'VmHWM') / 1024,
    async stop() {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function statusKb(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}
