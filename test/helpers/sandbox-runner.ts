import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { startRuntime } from '../../src/runtime.js';
import { buildServer } from '../../src/server/app.js';
import { createLogger } from '../../src/util/log.js';
import { removeRunnerContainers } from './docker.js';
import { HostAgentDriver } from './host-agent-driver.js';
import { apiClient, type TestRunner } from './runner.js';

export interface SseFrame {
  id: number;
  event: string;
  data: any;
}

/**
 * A real runner (real store, real HTTP server) whose only driver is `driver` (the
 * runtime takes a driver list, so a test can give the host-agent driver), or the
 * configured `drivers` without one. Same shape as startTestRunner; close() stops
 * as `paddock serve` does.
 */
export async function startSandboxRunner(driver: SandboxDriver | undefined, flags: Record<string, unknown> = {}): Promise<TestRunner> {
  const dataDir = typeof flags.data_dir === 'string' ? flags.data_dir : mkdtempSync(path.join(os.tmpdir(), 'paddock-test-'));
  const config = loadConfig({
    env: {},
    flags: { data_dir: dataDir, port: 0, log_level: 'silent', drivers: ['bwrap'], storage: { reserve_mb: 0 }, judge: { smoke: false }, ...flags },
  });
  const rt = await startRuntime(config, createLogger(config.log_level), driver ? { drivers: [driver] } : {});
  const app = await buildServer(rt);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  return {
    url,
    token,
    dataDir,
    rt,
    app,
    api: apiClient(url, token),
    // In `paddock serve`'s order: stopping the scheduler ends sandboxes and so their streams, then the server closes.
    async close() {
      await rt.scheduler.stop();
      await app.close();
      await rt.close();
    },
  };
}

/** Parses an SSE body into frames (comments skipped). */
export function parseSse(text: string): SseFrame[] {
  const frames: SseFrame[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '' && !l.startsWith(':'));
    if (lines.length === 0) continue;
    const f: SseFrame = { id: NaN, event: '', data: undefined };
    for (const line of lines) {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') f.id = Number(value);
      else if (field === 'event') f.event = value;
      else if (field === 'data') f.data = JSON.parse(value);
    }
    frames.push(f);
  }
  return frames;
}

/** Where the sandboxes API tests run: the same tests against each. */
export interface SandboxBackend {
  name: 'hostagent' | 'docker' | 'bwrap';
  /** What a sandbox created without `image` reports. */
  image: string | null;
  /** A runner on this backend (`data_dir` in flags reuses one). */
  start(flags?: Record<string, unknown>): Promise<TestRunner>;
  /** After a runner closed: what it may have left outside its data dir. */
  cleanup(r: TestRunner): Promise<void>;
}

/** The real agent on this host (test/helpers/host-agent-driver.ts); one driver per runner. */
export const hostAgentBackend: SandboxBackend = {
  name: 'hostagent',
  image: null,
  start: (flags = {}) => startSandboxRunner(new HostAgentDriver({ pause: true }), flags),
  cleanup: async () => undefined,
};

/** Container uids of the docker backend's runners, disjoint from other test files'. */
const DOCKER_UIDS = { uid_range_start: 260_000, uid_range_size: 200 };

/** Docker (runc) containers with the agent as PID 1, no warm pool. */
export const dockerBackend: SandboxBackend = {
  name: 'docker',
  image: 'base',
  start: (flags = {}) => startSandboxRunner(undefined, { drivers: ['docker'], docker: DOCKER_UIDS, pool: { size: 0 }, ...flags }),
  cleanup: (r) => removeRunnerContainers(r.dataDir),
};

/** bwrap sandboxes (the agent as PID 1 of each), host uids disjoint from other test files', no warm pool. */
export const bwrapBackend: SandboxBackend = {
  name: 'bwrap',
  image: 'base',
  start: (flags = {}) =>
    startSandboxRunner(undefined, { drivers: ['bwrap'], sandbox: { uid_range_start: 61_270, uid_range_size: 8 }, pool: { size: 0 }, ...flags }),
  cleanup: async () => undefined,
};
