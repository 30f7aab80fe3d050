import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { connectionBudget, openFilesLimit } from './fd-budget.js';

const limitsFile = (soft: string) => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'paddock-limits-')), 'limits');
  writeFileSync(
    file,
    'Limit                     Soft Limit           Hard Limit           Units\n' +
      'Max processes             63457                63457                processes\n' +
      `Max open files            ${soft}                 524288               files\n`,
  );
  return file;
};
const config = (flags: Record<string, unknown> = {}) =>
  loadConfig({ env: {}, flags: { data_dir: '/tmp/x', max_concurrent_jobs: 4, ...flags } });

describe('fd budget', () => {
  it('reads the soft open-files limit, falling back when it cannot', () => {
    expect(openFilesLimit(limitsFile('1024'))).toBe(1024);
    expect(openFilesLimit(limitsFile('unlimited'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(openFilesLimit('/nonexistent/limits')).toBe(1024);
    expect(openFilesLimit()).toBeGreaterThan(0);
  });

  it('keeps connections below the fd limit with room per job, and streams to half of them', () => {
    const b = connectionBudget(config(), 1024);
    expect(b.maxConnections).toBe(1024 - 128 - 16 * 4);
    expect(b.maxStreams).toBe(Math.floor(b.maxConnections / 2));
    expect(b.streamBufferBytes).toBe(256 * 1024);
  });

  it('takes explicit http settings, but never past what the fd limit leaves', () => {
    expect(connectionBudget(config({ http: { max_streams: 10, max_connections: 100 } }), 65536)).toMatchObject({
      maxConnections: 100,
      maxStreams: 10,
    });
    expect(connectionBudget(config({ http: { max_connections: 100_000, max_streams: 100_000 } }), 1024)).toMatchObject({
      maxConnections: 832,
      maxStreams: 832,
    });
  });
});
