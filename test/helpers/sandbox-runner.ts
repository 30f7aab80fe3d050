import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { SandboxDriver } from '../../src/sandbox/driver.js';
import { startRuntime } from '../../src/runtime.js';
import { buildServer } from '../../src/server/app.js';
import { createLogger } from '../../src/util/log.js';
import { apiClient, type TestRunner } from './runner.js';

export interface SseFrame {
  id: number;
  event: string;
  data: any;
}

/**
 * A real runner (real store, real HTTP server) whose only driver is `driver`: the
 * runtime takes a driver list, so tests can give one that keeps sandboxes before
 * a configured driver does. Same shape as startTestRunner; close() stops as `paddock serve` does.
 */
export async function startSandboxRunner(driver: SandboxDriver, flags: Record<string, unknown> = {}): Promise<TestRunner> {
  const dataDir = typeof flags.data_dir === 'string' ? flags.data_dir : mkdtempSync(path.join(os.tmpdir(), 'paddock-test-'));
  const config = loadConfig({
    env: {},
    flags: { data_dir: dataDir, port: 0, log_level: 'silent', drivers: ['bwrap'], storage: { reserve_mb: 0 }, ...flags },
  });
  const rt = await startRuntime(config, createLogger(config.log_level), { drivers: [driver] });
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
