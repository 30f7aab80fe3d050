import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerMissing } from './helpers/docker.js';
import { removeRunnerState, submitJob } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// A runner started with extra open fds (a writable host file, a host directory), as a
// careless supervisor or `paddock serve 77>>file 78</etc` would: no job on any driver may
// see them. The shell's own glob lists its fds (`ls -l` fails under Debian's 2022 runsc).
const LIST_FDS = `for f in /proc/self/fd/*; do echo "fd \${f##*/}"; done
if echo pwned >> /proc/self/fd/77; then echo WROTE; fi
if ls /proc/self/fd/78/../../.. >/dev/null 2>&1; then echo LISTED; fi
echo end`;

const missing = await dockerMissing();
const drivers = missing && process.env.CI !== 'true' ? ['bwrap'] : ['bwrap', 'docker', 'gvisor'];
const UID = 61220;

let server: ServerProcess;
let dataDir = '';
let hostFile = '';

beforeAll(async () => {
  if (drivers.length < 3 && process.env.CI === 'true') throw new Error(`fd tests need Docker: ${missing}`);
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-fds-'));
  hostFile = path.join(dataDir, 'host-file');
  writeFileSync(hostFile, 'original\n');
  const file = openSync(hostFile, 'a');
  const dir = openSync('/etc', 'r');
  try {
    server = await startServerProcess(
      dataDir,
      {
        PADDOCK_DRIVERS: drivers.join(','),
        PADDOCK_SANDBOX__UID_RANGE_START: String(UID),
        PADDOCK_SANDBOX__UID_RANGE_SIZE: '8',
        ...(process.env.PADDOCK_IMAGES_DIR ? { PADDOCK_IMAGES_DIR: process.env.PADDOCK_IMAGES_DIR } : {}),
      },
      ['--log-level', 'info'],
      { 77: file, 78: dir },
    );
  } finally {
    closeSync(file);
    closeSync(dir);
  }
}, 120_000);

afterAll(async () => {
  if (server) await stopServerProcess(server, 'SIGTERM');
  if (dataDir) await removeRunnerState(dataDir);
}, 60_000);

describe('inherited file descriptors', () => {
  it('serve closes what it inherited and says how many', () => {
    // 77 and 78, and whatever else the test process was started with.
    const closed = Number(/closed (\d+) inherited file descriptor\(s\)/.exec(server.stderr())?.[1] ?? 0);
    expect(closed, server.stderr()).toBeGreaterThanOrEqual(2);
    // The count only, never what they pointed at.
    expect(server.stderr()).not.toContain(hostFile);
  });

  it.each(drivers)('a %s job has only fds 0-2 (and its own) and cannot use the runner’s', async (driver) => {
    const job = await submitJob(server.api, { driver, script: LIST_FDS, limits: { timeout_ms: 30_000 } });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    const out = job.result!.stdout;
    // fd 3 is the directory the shell's glob is reading (/proc/self/fd itself). The kernel
    // hands out the lowest free number, so any inherited fd would push it to 4 or more.
    const fds = [...out.matchAll(/^fd (\d+)$/gm)].map((m) => Number(m[1]));
    expect(fds, out).toEqual([0, 1, 2, 3]);
    expect(out).not.toMatch(/WROTE|LISTED/);
    expect(out).toMatch(/end\n$/);
    expect(readFileSync(hostFile, 'utf8')).toBe('original\n');
  }, 60_000);
});
