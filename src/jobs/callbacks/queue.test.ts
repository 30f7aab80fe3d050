import { afterEach, describe, expect, test } from 'vitest';
import { type Receiver, startReceiver } from '../../../test/helpers/callback-receiver.js';
import { type Delivery, type DeliveryOutcome, DeliveryQueue, type DeliveryQueueOptions } from './queue.js';

let rx: Receiver | undefined;
let q: DeliveryQueue | undefined;
afterEach(async () => {
  await q?.close(0);
  await rx?.close();
  q = rx = undefined;
});

const FAST = { baseMs: 20, capMs: 200 };

function queue(over: Partial<DeliveryQueueOptions> = {}) {
  const ended: { id: string; outcome: DeliveryOutcome; attempts: number }[] = [];
  q = new DeliveryQueue({
    maxAttempts: 4,
    timeoutMs: 2000,
    maxPending: 100,
    allowPrivate: true,
    backoff: FAST,
    onEnd: (d, outcome, _last, attempts) => ended.push({ id: d.id, outcome, attempts }),
    ...over,
  });
  return { q, ended };
}

const delivery = (id: string, key: string): Delivery => ({
  id,
  key,
  url: `${rx!.url}/hook`,
  body: JSON.stringify({ id }),
  headers: { 'content-type': 'application/json', 'x-paddock-delivery': id },
});
const ids = (r: Receiver) => r.received.map((x) => x.body.id as string);

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('DeliveryQueue', () => {
  test('a failing delivery is retried on schedule, and the next state of its job waits for it', async () => {
    // a1 fails twice (500), then succeeds; a2 must not overtake it; b1 (another job) is not held up.
    let a1Tries = 0;
    rx = await startReceiver((r) => (r.body.id === 'a1' && ++a1Tries <= 2 ? { status: 500 } : { status: 204 }));
    const { q, ended } = queue();
    q.enqueue(delivery('a1', 'job-a'));
    q.enqueue(delivery('a2', 'job-a'));
    q.enqueue(delivery('b1', 'job-b'));
    await until(() => ended.length === 3);
    expect(ids(rx).filter((id) => id !== 'b1')).toEqual(['a1', 'a1', 'a1', 'a2']);
    expect(ids(rx).indexOf('b1')).toBeLessThan(ids(rx).lastIndexOf('a1'));
    expect(ended).toContainEqual({ id: 'a1', outcome: 'delivered', attempts: 3 });
    // Every try carries the same delivery id and its own attempt number.
    const tries = rx.received.filter((r) => r.body.id === 'a1');
    expect(tries.map((r) => r.headers['x-paddock-delivery-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(tries.map((r) => r.headers['x-paddock-delivery'])).size).toBe(1);
    // Backoff: the retries came after at least the jittered minimum (half a step: 10 ms, then 20 ms).
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(9);
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(19);
  });

  test('a 4xx is not retried; running out of tries fails the delivery; the job\'s next state goes on', async () => {
    rx = await startReceiver((r) => (r.body.id === 'x1' ? { status: 404 } : r.body.id === 'y1' ? { status: 502 } : { status: 200 }));
    const { q, ended } = queue({ maxAttempts: 3 });
    q.enqueue(delivery('x1', 'job-x'));
    q.enqueue(delivery('x2', 'job-x'));
    q.enqueue(delivery('y1', 'job-y'));
    await until(() => ended.length === 3);
    expect(ended).toEqual(
      expect.arrayContaining([
        { id: 'x1', outcome: 'failed', attempts: 1 },
        { id: 'x2', outcome: 'delivered', attempts: 1 },
        { id: 'y1', outcome: 'failed', attempts: 3 },
      ]),
    );
    expect(ids(rx).filter((id) => id === 'y1')).toHaveLength(3);
  });

  test('Retry-After is honoured, capped by the backoff cap', async () => {
    let n = 0;
    rx = await startReceiver(() => (++n === 1 ? { status: 429, headers: { 'retry-after': '3600' } } : { status: 204 }));
    const { q, ended } = queue();
    q.enqueue(delivery('r1', 'job-r'));
    await until(() => ended.length === 1);
    const [first, second] = rx.received;
    // An hour asked, the cap (200 ms here) given.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(190);
    expect(second!.at - first!.at).toBeLessThan(2000);
  });

  test('beyond max_pending the oldest waiting deliveries are dropped and counted; the one being sent is kept', async () => {
    rx = await startReceiver(() => 'hang');
    const { q, ended } = queue({ maxPending: 3 });
    q.enqueue(delivery('d1', 'job-d'));
    await rx.waitFor(1);
    for (const id of ['d2', 'd3', 'd4', 'd5']) q.enqueue(delivery(id, 'job-d'));
    expect(q.size).toBe(3);
    expect(ended).toEqual([
      { id: 'd2', outcome: 'dropped', attempts: 0 },
      { id: 'd3', outcome: 'dropped', attempts: 0 },
    ]);
    rx.answer = () => ({ status: 204 });
    rx.release();
    await until(() => ended.length === 5);
    expect(ids(rx)).toEqual(['d1', 'd4', 'd5']);
  });

  test('a hanging receiver holds only its own job; close() abandons what is left without waiting for it', async () => {
    rx = await startReceiver((r) => (r.body.id === 'h1' ? 'hang' : { status: 204 }));
    const { q, ended } = queue({ timeoutMs: 60_000 });
    q.enqueue(delivery('h1', 'job-h'));
    q.enqueue(delivery('h2', 'job-h'));
    q.enqueue(delivery('o1', 'job-o'));
    await until(() => ended.some((e) => e.id === 'o1'));
    const t0 = Date.now();
    await q.close(100);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ended).toEqual(
      expect.arrayContaining([
        { id: 'o1', outcome: 'delivered', attempts: 1 },
        { id: 'h1', outcome: 'abandoned', attempts: 1 },
        { id: 'h2', outcome: 'abandoned', attempts: 0 },
      ]),
    );
    q.enqueue(delivery('late', 'job-o'));
    expect(ended.at(-1)).toEqual({ id: 'late', outcome: 'abandoned', attempts: 0 });
  });

  test('close() lets queued deliveries go out within its drain time', async () => {
    rx = await startReceiver();
    const { q, ended } = queue();
    for (const id of ['c1', 'c2', 'c3']) q.enqueue(delivery(id, 'job-c'));
    await q.close(5000);
    expect(ended.map((e) => e.outcome)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(ids(rx)).toEqual(['c1', 'c2', 'c3']);
  });
});
