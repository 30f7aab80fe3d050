import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { buildServer } from '../../src/server/app.js';
import { createLogger } from '../../src/util/log.js';

export interface TestRunner {
  url: string;
  token: string;
  dataDir: string;
  rt: Runtime;
  app: FastifyInstance;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  close(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A real runner (real store, real bwrap) on a random loopback port with its own data dir. */
export async function startTestRunner(flags: Record<string, unknown> = {}): Promise<TestRunner> {
  // A test may pick the data dir (and so the runner id) to set up what a previous process left.
  const dataDir = typeof flags.data_dir === 'string' ? flags.data_dir : mkdtempSync(path.join(os.tmpdir(), 'paddock-test-'));
  // bwrap only unless a test asks for more: probing Docker drivers costs seconds per runner.
  const config = loadConfig({
    env: {},
    // No storage reserve file (16 MiB each) in the many throw-away data dirs tests make.
    // No judge smoke tests (six sandboxes at every start) unless a test is about them.
    flags: { data_dir: dataDir, port: 0, log_level: 'silent', drivers: ['bwrap'], storage: { reserve_mb: 0 }, judge: { smoke: false }, ...flags },
  });
  const rt = await startRuntime(config, createLogger(config.log_level));
  const app = await buildServer(rt);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const api = apiClient(address, token);

  return {
    url: address,
    token,
    dataDir,
    rt,
    app,
    api,
    async close() {
      await app.close();
      await rt.close();
    },
  };
}

/** A bearer-token client for a runner at `url` (in-process or not); string bodies are sent as they are. */
export function apiClient(url: string, token: string): TestRunner['api'] {
  return async (method, p, body, headers = {}) => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (SSE, metrics)
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}
