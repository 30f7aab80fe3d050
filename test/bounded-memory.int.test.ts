import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { closeWithin, type Json, sh, submit } from './helpers/api.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Issue 7 item 7: list pages are summaries, every event stream has a bounded buffer
// (a slow reader is cut off and resumes with Last-Event-ID), and streams are capped.

const MiB = 1024 * 1024;
// Host uids of this file's bwrap sandboxes: a range of its own, apart from the default 61000….
const UIDS = { uid_range_start: 63700, uid_range_size: 64 };
const NON_READERS = 90;
const STALL_MS = 2_000;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Frame {
  id: number;
  event: string;
  data: any;
}

/** Parses complete SSE frames off the front of `buffer`; returns them and the unparsed rest. */
function frames(buffer: string): { frames: Frame[]; rest: string } {
  const out: Frame[] = [];
  let cut;
  while ((cut = buffer.indexOf('\n\n')) >= 0) {
    const lines = buffer.slice(0, cut).split('\n');
    buffer = buffer.slice(cut + 2);
    const f: Partial<Frame> = {};
    for (const line of lines) {
      if (line.startsWith('id: ')) f.id = Number(line.slice(4));
      else if (line.startsWith('event: ')) f.event = line.slice(7);
      else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
    }
    if (f.event) out.push(f as Frame);
  }
  return { frames: out, rest: buffer };
}

const isEnd = (f: Frame) => f.event === 'state' && TERMINAL.includes(f.data.state);

/**
 * One connection to the job's event stream. With `pause`, stops reading after
 * the first chunk until `pause` resolves (so the runner sees a stalled reader).
 * `cut` is true when the connection ended without the end state.
 */
async function streamOnce(
  url: string,
  token: string,
  jobId: string,
  opts: { lastEventId?: number; pause?: Promise<unknown> } = {},
): Promise<{ status: number; frames: Frame[]; cut: boolean }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  const res = await fetch(`${url}/v1/jobs/${jobId}/events`, { headers });
  if (res.status !== 200) return { status: res.status, frames: [], cut: false };
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const got: Frame[] = [];
  let buffer = '';
  let first = true;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const parsed = frames(buffer + value);
      buffer = parsed.rest;
      got.push(...parsed.frames);
      if (first && opts.pause) await opts.pause;
      first = false;
    }
  } catch {
    // the runner reset the connection: a cut-off
  }
  return { status: 200, frames: got, cut: !got.some(isEnd) };
}

/** Reads a job's events to the end, reconnecting with Last-Event-ID after each cut-off. */
async function readAll(url: string, token: string, jobId: string, first?: { pause: Promise<unknown> }) {
  const all: Frame[] = [];
  let cuts = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    const lastEventId = all.at(-1)?.id;
    const once = await streamOnce(url, token, jobId, { lastEventId, ...(attempt === 0 ? first : {}) });
    expect(once.status).toBe(200);
    all.push(...once.frames);
    if (!once.cut) return { frames: all, cuts };
    cuts++;
  }
  throw new Error(`no end state after 50 connections (${all.length} frames)`);
}

const stdoutOf = (fs: Frame[]) =>
  fs
    .filter((f) => f.event === 'stdout')
    .map((f) => f.data.data as string)
    .join('');

/** A job that waits `waitS`, then prints `bytes` of `a` to stdout. */
const printer = (bytes: number, waitS: number): Json =>
  sh(`sleep ${waitS}; head -c ${bytes} /dev/zero | tr '\\0' a`, {
    limits: { output_bytes: 2 * bytes, timeout_ms: 60_000 },
  });

/** Reads a Prometheus sample (first series of `name`). */
async function metric(url: string, token: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

/** Polls /health every 100 ms until stopped; every answer must be a 200 within 2 s. */
function watchHealth(url: string) {
  const samples: { status: number; ms: number }[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const t0 = performance.now();
      let status = 0;
      try {
        status = (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })).status;
      } catch {
        // timeout or refused: recorded as status 0
      }
      samples.push({ status, ms: performance.now() - t0 });
      await sleep(100);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return samples;
  };
}

describe('list pages are summaries', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({ max_concurrent_jobs: 2, sandbox: UIDS });
  });
  afterAll(async () => {
    await closeWithin(r);
  });

  test('a 500-job page of jobs that printed output is small and carries no stdout/stderr', async () => {
    // Each job has a 16 KiB stdin in its spec and prints 32 KiB + 1 KiB: in full, the page would be ~25 MB.
    const spec = sh("head -c 32768 /dev/zero | tr '\\0' o; head -c 1024 /dev/zero | tr '\\0' e >&2; cat >/dev/null", {
      stdin: 'i'.repeat(16 * 1024),
    });
    let next = 0;
    const ids: string[] = [];
    const worker = async () => {
      while (next < 500) {
        next++;
        const job = await submit(r, spec, { wait: true });
        expect(job.state).toBe('succeeded');
        ids.push(job.id);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    const res = await fetch(`${r.url}/v1/jobs?limit=500`, { headers: { authorization: `Bearer ${r.token}` } });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(Buffer.byteLength(text)).toBeLessThan(5 * MiB);
    const page = JSON.parse(text);
    expect(page.jobs).toHaveLength(500);
    expect(new Set(page.jobs.map((j: Json) => j.id))).toEqual(new Set(ids));
    for (const job of page.jobs) {
      expect(job.result).not.toHaveProperty('stdout');
      expect(job.result).not.toHaveProperty('stderr');
      expect(job.result).toMatchObject({
        exit_code: 0,
        signal: null,
        stdout_truncated: false,
        stderr_truncated: false,
        timed_out: false,
        wall_ms: expect.any(Number),
      });
      expect(job.limits).toMatchObject({ output_bytes: expect.any(Number), timeout_ms: expect.any(Number) });
    }
    expect(text).not.toContain('oooo');
    expect(text).not.toContain('iiii');

    // The single-job read still has the output.
    const one = await r.api('GET', `/v1/jobs/${ids[0]}`);
    expect(one.body.result.stdout).toBe('o'.repeat(32768));
    expect(one.body.result.stderr).toBe('e'.repeat(1024));
  }, 180_000);

  test('a page ends before 4 MiB and its cursor continues it, without gaps or duplicates', async () => {
    // 64 labels of 1000 characters: ~66 KB per job even as a summary.
    const labels = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`l${i}`, String(i % 10).repeat(1000)]));
    const ids: string[] = [];
    for (let i = 0; i < 80; i++) ids.push((await submit(r, sh('true', { labels }))).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await fetch(`${r.url}/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`, {
        headers: { authorization: `Bearer ${r.token}` },
      });
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(Buffer.byteLength(text)).toBeLessThan(4.5 * MiB);
      const page = JSON.parse(text);
      seen.push(...page.jobs.map((j: Json) => j.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 80)).toEqual([...ids].reverse());
  }, 60_000);
});

describe('event streams are capped', () => {
  let r: TestRunner;
  beforeAll(async () => {
    r = await startTestRunner({ max_concurrent_jobs: 2, sandbox: UIDS, http: { max_streams: 3 } });
  });
  afterAll(async () => {
    await closeWithin(r);
  });

  test('beyond http.max_streams a stream is 429 too_many_streams with Retry-After; a freed place is reused', async () => {
    const job = await submit(r, sh('sleep 20', { limits: { timeout_ms: 30_000 } }));
    const open = async () => {
      const ac = new AbortController();
      const res = await fetch(`${r.url}/v1/jobs/${job.id}/events`, {
        headers: { authorization: `Bearer ${r.token}` },
        signal: ac.signal,
      });
      return { res, ac };
    };
    const streams = [await open(), await open(), await open()];
    expect(streams.map((s) => s.res.status)).toEqual([200, 200, 200]);
    const refused = await open();
    expect(refused.res.status).toBe(429);
    expect(refused.res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.res.json()).toMatchObject({ code: 'too_many_streams', status: 429 });
    expect((await r.api('GET', '/health')).status).toBe(200);

    streams[0]!.ac.abort();
    const deadline = Date.now() + 5_000;
    while ((await metric(r.url, r.token, 'paddock_event_streams_open')) > 2) {
      if (Date.now() > deadline) throw new Error('the aborted stream did not give its place back');
      await sleep(50);
    }
    const again = await open();
    expect(again.res.status).toBe(200);
    for (const s of [...streams, again]) s.ac.abort();
    await r.api('POST', `/v1/jobs/${job.id}/cancel`);
  }, 30_000);
});

describe('slow event readers (a real `paddock serve`)', () => {
  let server: ServerProcess;
  let token: string;
  let dataDir: string;
  const pid = () => server.proc.pid!;
  const waitForJobEnd = async (id: string) => {
    for (;;) {
      const j = (await server.api('GET', `/v1/jobs/${id}`)).body;
      if (TERMINAL.includes(j.state)) return j;
      await sleep(100);
    }
  };
  /** What the shared helpers need of a runner: its url, token and API client. */
  const asRunner = () => ({ url: server.url, token, api: server.api }) as unknown as TestRunner;
  const statusKb = (field: 'VmRSS' | 'VmHWM') =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid()}/status`, 'utf8'))![1]);

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-bounded-'));
    server = await startServerProcess(dataDir, {
      PADDOCK_SANDBOX__UID_RANGE_START: String(UIDS.uid_range_start),
      PADDOCK_SANDBOX__UID_RANGE_SIZE: String(UIDS.uid_range_size),
      PADDOCK_MAX_CONCURRENT_JOBS: '2',
      // Short, so the test of a stalled JSON reader does not wait the default 30 s.
      PADDOCK_HTTP__STALL_MS: String(STALL_MS),
    });
    token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  }, 30_000);
  // Raw sockets of the current test; a failed test must not leave its streams holding the token's places.
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  afterAll(async () => {
    if (server) await stopServerProcess(server, 'SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('90 readers that never read cost < 100 MB and are cut off; a normal reader gets all 8 MiB; /health answers', async () => {
    const BYTES = 8 * MiB;
    // Warm-up: one job of the same size with one reader, so the store's cache and the JIT are paid for before measuring.
    const warm = await submit(asRunner(), printer(BYTES, 0));
    expect(stdoutOf((await readAll(server.url, token, warm.id)).frames)).toHaveLength(BYTES);

    const job = await submit(asRunner(), printer(BYTES, 5));
    const { hostname, port } = new URL(server.url);
    // 90 (not 100): with the normal reader they stay within one token's default quotas.max_streams of 100.
    for (let i = 0; i < NON_READERS; i++) {
      const s = net.connect({ host: hostname, port: Number(port) });
      s.on('error', () => undefined); // the cut-off is a reset
      s.write(`GET /v1/jobs/${job.id}/events HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      s.pause();
      sockets.push(s);
    }
    const reader = readAll(server.url, token, job.id);
    const deadline = Date.now() + 4_000;
    while ((await metric(server.url, token, 'paddock_event_streams_open')) < NON_READERS + 1) {
      if (Date.now() > deadline) throw new Error('the streams did not all open before the job started printing');
      await sleep(50);
    }
    const cutBefore = await metric(server.url, token, 'paddock_event_streams_cut_total');
    // Peak RSS from here on: writing 5 to clear_refs resets VmHWM to the current RSS.
    writeFileSync(`/proc/${pid()}/clear_refs`, '5');
    const rssBeforeKb = statusKb('VmRSS');
    const health = watchHealth(server.url);

    const read = await reader;
    const samples = await health();
    const peakGrowthMb = (statusKb('VmHWM') - rssBeforeKb) / 1024;

    expect(stdoutOf(read.frames)).toBe('a'.repeat(BYTES));
    const ids = read.frames.map((f) => f.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(read.frames.at(-1)).toMatchObject({ event: 'state', data: { state: 'succeeded' } });
    expect(peakGrowthMb, 'peak RSS growth of the runner (MB)').toBeLessThan(100);

    // Every non-reader was cut off: the runner reset it, and none of them got the end state.
    const cutDeadline = Date.now() + 5_000;
    while ((await metric(server.url, token, 'paddock_event_streams_cut_total')) - cutBefore < NON_READERS) {
      if (Date.now() > cutDeadline) throw new Error('not every non-reading stream was cut off');
      await sleep(100);
    }
    expect(await metric(server.url, token, 'paddock_event_streams_open')).toBe(0);
    const received = await Promise.all(
      sockets.map(
        (s) =>
          new Promise<string>((resolve) => {
            let text = '';
            s.setEncoding('latin1');
            s.on('data', (d: string) => (text += d.slice(-200)));
            s.on('close', () => resolve(text));
            s.resume();
          }),
      ),
    );
    for (const text of received) expect(text).not.toContain('"state":"succeeded"');

    expect(samples.length).toBeGreaterThan(0);
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
  }, 120_000);

  test('a reader that stalls is cut off, then resumes with Last-Event-ID and misses nothing', async () => {
    const BYTES = 8 * MiB;
    const job = await submit(asRunner(), printer(BYTES, 2));
    let ended!: () => void;
    const jobEnded = new Promise<void>((resolve) => (ended = resolve));
    const read = readAll(server.url, token, job.id, { pause: jobEnded });
    // Stall the first connection until the job is over.
    for (;;) {
      const j = await (await fetch(`${server.url}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${token}` } })).json();
      if (TERMINAL.includes(j.state)) break;
      await sleep(100);
    }
    ended();
    const { frames: got, cuts } = await read;
    expect(cuts).toBeGreaterThanOrEqual(1);
    expect(stdoutOf(got)).toBe('a'.repeat(BYTES));
    const ids = got.map((f) => f.id);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
  }, 60_000);

  test('a client that stops reading a large answer is reset after http.stall_ms', async () => {
    const job = await submit(asRunner(), printer(8 * MiB, 0));
    const ended = await waitForJobEnd(job.id);
    expect(ended.state).toBe('succeeded');
    const { hostname, port } = new URL(server.url);
    const s = net.connect({ host: hostname, port: Number(port) });
    sockets.push(s);
    let closedAt = 0;
    s.on('error', () => undefined);
    s.on('close', () => (closedAt = Date.now()));
    s.write(`GET /v1/jobs/${job.id} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    s.pause();
    await sleep(3 * STALL_MS);
    // Now read what is left: a reset connection ends early, a kept one would deliver the whole answer and stay open.
    let head = '';
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      if (head.length < 1000) head += d.toString('latin1', 0, Math.min(d.length, 1000));
      bytes += d.length;
    });
    s.resume();
    const deadline = Date.now() + 10_000;
    while (!closedAt && Date.now() < deadline) await sleep(50);
    expect(closedAt, 'the runner closed the connection').toBeGreaterThan(0);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
    expect(length).toBeGreaterThan(8 * MiB);
    expect(bytes).toBeLessThan(length);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  }, 60_000);
});
