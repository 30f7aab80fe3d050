import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cancel, closeWithin, cmd, getJob, type Json, sh, startedJob, submit, TERMINAL } from './helpers/api.js';
import type { TestRunner } from './helpers/runner.js';
import { startTestRunner } from './helpers/runner.js';
import { joined, readEvents, type SseEvent } from './helpers/sse.js';

// GET /v1/jobs/:id/events: Server-Sent Events with `id: <seq>`, `event: state|stdout|stderr`, `data: <json>`.

let r: TestRunner;

beforeAll(async () => {
  r = await startTestRunner({ max_concurrent_jobs: 2 });
});
afterAll(async () => {
  await closeWithin(r);
});

/** Prints `tick 1` … `tick n` with a pause before each, so output arrives over time. */
const ticker = (n: number, pause = 0.4) => sh(`for i in $(seq 1 ${n}); do sleep ${pause}; echo "tick $i"; done`);
const ticks = (n: number) => Array.from({ length: n }, (_, i) => `tick ${i + 1}\n`).join('');

const summary = (events: SseEvent[]) => events.map((e) => ({ id: e.id, event: e.event, data: e.data }));
const isEnd = (e: SseEvent) => e.event === 'state' && TERMINAL.includes(e.data.state);

/** Every event of a job stored so far (`?follow=false`). */
async function storedEvents(jobId: string): Promise<SseEvent[]> {
  const read = await readEvents(r, jobId, { query: '?follow=false', timeoutMs: 5_000 });
  expect(read.ended).toBe(true);
  return read.events;
}

describe('event stream', () => {
  test('frames are `id`, `event`, `data` with gap-free seqs, from queued to the end state', async () => {
    const job = await submit(r, sh('echo out; echo err >&2'), { wait: true });
    const read = await readEvents(r, job.id, { timeoutMs: 5_000 });
    expect(read.status).toBe(200);
    expect(read.contentType).toMatch(/^text\/event-stream/);
    expect(read.ended).toBe(true);
    const { events } = read;
    expect(events.map((e) => e.fields)).toEqual(events.map(() => ['id', 'event', 'data']));
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => ['state', 'stdout', 'stderr'].includes(e.event))).toBe(true);
    expect(events[0]).toMatchObject({ event: 'state', data: { state: 'queued' } });
    const states = events.filter((e) => e.event === 'state').map((e) => e.data.state);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
    expect(joined(events, 'stdout')).toBe('out\n');
    expect(joined(events, 'stderr')).toBe('err\n');
  });

  test('stdout arrives live, and the stream ends right after the end state', async () => {
    const job = await submit(r, ticker(5));
    const read = await readEvents(r, job.id);
    expect(read.ended, 'the server closed the stream').toBe(true);
    const { events } = read;
    const end = events.at(-1)!;
    expect(end).toMatchObject({ event: 'state', data: { state: 'succeeded' } });
    expect(events.filter(isEnd)).toHaveLength(1);

    const stdout = events.filter((e) => e.event === 'stdout');
    // Each tick is its own write 0.4 s apart, so it cannot all come in one chunk at the end.
    expect(stdout.length).toBeGreaterThanOrEqual(3);
    expect(stdout[0]!.at).toBeLessThan(end.at - 800);
    const final = await getJob(r, job.id);
    expect(stdout[0]!.at).toBeLessThan(Date.parse(final.finished_at) - 800);
    expect(joined(events, 'stdout')).toBe(ticks(5));
  });

  test('stdout events concatenated equal result.stdout (large, multi-byte output)', async () => {
    const job = await submit(
      r,
      sh("yes 'ligne é€😀 ∑' | head -n 20000; echo to-stderr >&2; yes '🦀' | head -n 3000 | tr -d '\\n'"),
      { wait: true },
    );
    expect(job.state).toBe('succeeded');
    expect(job.result.stdout_truncated).toBe(false);
    expect(job.result.stdout.length).toBeGreaterThan(200_000);
    const events = await storedEvents(job.id);
    expect(events.filter((e) => e.event === 'stdout').length).toBeGreaterThan(1);
    expect(joined(events, 'stdout')).toBe(job.result.stdout);
    expect(joined(events, 'stderr')).toBe(job.result.stderr);
    expect(job.result.stdout).not.toContain('\uFFFD');
  });

  test('a followed stream answers at once even when there is nothing new yet', async () => {
    const job = await startedJob(r);
    try {
      const seen = (await storedEvents(job.id)).at(-1)!.id;
      const asked = Date.now();
      // Resuming after everything so far: the next event only comes when the job ends.
      const read = await readEvents(r, job.id, { lastEventId: seen, timeoutMs: 3_000 });
      expect(read.status, 'response headers within 3 s').toBe(200);
      expect(read.headersAt! - asked).toBeLessThan(2_000);
      expect(read.events).toEqual([]);
    } finally {
      await cancel(r, job.id);
    }
  });
});

describe('resuming', () => {
  let job: Json;
  let all: SseEvent[];
  beforeAll(async () => {
    job = await submit(r, sh('for i in 1 2 3; do echo "out $i"; echo "err $i" >&2; sleep 0.1; done'), { wait: true });
    all = await storedEvents(job.id);
    expect(all.length).toBeGreaterThanOrEqual(5);
  });

  test.each([0, 1, 3, -2])('Last-Event-ID replays only the events after it (N = %i)', async (n) => {
    const after = n < 0 ? all.at(n)!.id : n;
    const read = await readEvents(r, job.id, { lastEventId: after, timeoutMs: 5_000 });
    expect(read.ended).toBe(true);
    expect(summary(read.events)).toEqual(summary(all.filter((e) => e.id > after)));
  });

  test('?after=N does the same as Last-Event-ID', async () => {
    const read = await readEvents(r, job.id, { query: '?after=2', timeoutMs: 5_000 });
    expect(summary(read.events)).toEqual(summary(all.filter((e) => e.id > 2)));
  });

  test('Last-Event-ID at the end state: the stream closes promptly with nothing to send', async () => {
    const last = all.at(-1)!;
    expect(isEnd(last)).toBe(true);
    const read = await readEvents(r, job.id, { lastEventId: last.id, timeoutMs: 5_000 });
    expect(read.ended, 'the server should close the stream of a job that has ended').toBe(true);
    expect(read.status).toBe(200);
    expect(read.events).toEqual([]);
  });

  test('a client that drops mid-job and reconnects with Last-Event-ID misses nothing, gets nothing twice', async () => {
    const live = await submit(r, ticker(6, 0.3));
    const first = await readEvents(r, live.id, { until: (e) => joined([e], 'stdout').includes('tick 2') });
    expect(first.ended).toBe(false);
    const lastSeen = first.events.at(-1)!.id;
    expect((await getJob(r, live.id)).state).toBe('running');

    const rest = await readEvents(r, live.id, { lastEventId: lastSeen });
    expect(rest.ended).toBe(true);
    expect(rest.events[0]!.id).toBe(lastSeen + 1);
    const combined = [...first.events, ...rest.events];
    expect(combined.map((e) => e.id)).toEqual(combined.map((_, i) => i + 1));
    expect(summary(combined)).toEqual(summary(await storedEvents(live.id)));
    expect(joined(combined, 'stdout')).toBe(ticks(6));
  });
});

describe('?follow=false', () => {
  test('returns what is stored so far and closes while the job still runs', async () => {
    const job = await startedJob(r);
    try {
      const read = await readEvents(r, job.id, { query: '?follow=false', timeoutMs: 5_000 });
      expect(read.ended).toBe(true);
      expect(read.events.filter((e) => e.event === 'state').map((e) => e.data.state)).toEqual(['queued', 'running']);
      expect(joined(read.events, 'stdout')).toBe('started\n');
      expect((await getJob(r, job.id)).state).toBe('running');
    } finally {
      await cancel(r, job.id);
    }
  });

  test('for a finished job it returns every event, ending with the end state', async () => {
    const job = await submit(r, cmd(['sh', '-c', 'exit 4']), { wait: true });
    const events = await storedEvents(job.id);
    expect(events.at(-1)).toMatchObject({ event: 'state', data: { state: 'failed', reason: 'exit_code' } });
  });
});
