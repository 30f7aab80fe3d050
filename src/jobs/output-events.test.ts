import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import type { Store, StoredEvent } from '../store/store.js';
import { EventBus } from './event-bus.js';
import { completeUtf8, OutputEvents, ROW_BYTES } from './output-events.js';

type Row = { stream: string; bytes: Buffer };

function fakeStore(fail?: () => unknown) {
  const rows: Row[] = [];
  let seq = 0;
  const store = {
    appendOutput: async (_id: string, chunks: Row[]): Promise<StoredEvent[]> => {
      const err = fail?.();
      if (err) throw err;
      rows.push(...chunks);
      return chunks.map((c) => ({ seq: ++seq, type: c.stream, data: { data: c.bytes.toString() }, created_at: '' }));
    },
  } as unknown as Store;
  return { store, rows };
}

describe('OutputEvents', () => {
  it('stores alternating 1-byte writes as at most one row per stream per flush', async () => {
    const { store, rows } = fakeStore();
    const out = new OutputEvents('job', store, new EventBus());
    for (let i = 0; i < 10_000; i++) {
      out.push('stdout', Buffer.from('o'));
      out.push('stderr', Buffer.from('e'));
    }
    await out.close();
    expect(rows.map((r) => r.stream)).toEqual(['stdout', 'stderr']);
    expect(rows[0]!.bytes.toString()).toBe('o'.repeat(10_000));
  });

  it('cuts rows at ROW_BYTES and never inside a UTF-8 character, keeping every byte', async () => {
    const { store, rows } = fakeStore();
    const out = new OutputEvents('job', store, new EventBus());
    const text = '☃'.repeat(100_000); // 3 bytes each: rows cannot all end on a character by size alone
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += 1000) out.push('stdout', bytes.subarray(at, at + 1000));
    await out.close();
    expect(rows.every((r) => r.bytes.length <= ROW_BYTES)).toBe(true);
    expect(rows.every((r) => r.bytes.toString() === '☃'.repeat(r.bytes.length / 3))).toBe(true);
    expect(Buffer.concat(rows.map((r) => r.bytes)).equals(bytes)).toBe(true);
  });

  it('a failing write (disk full) never throws: it stops storing and reports storage_full once', async () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const { store, rows } = fakeStore(() => full);
    const failures: PaddockError[] = [];
    const out = new OutputEvents('job', store, new EventBus(), { onFail: (e) => failures.push(e) });
    out.push('stdout', Buffer.alloc(ROW_BYTES));
    out.push('stdout', Buffer.from('more'));
    await out.close();
    expect(rows).toEqual([]);
    expect(failures.map((f) => f.code)).toEqual(['storage_full']);
    expect(out.failure?.code).toBe('storage_full');
  });

  it('completeUtf8 holds back only an unfinished character', () => {
    const snow = Buffer.from('a☃');
    expect(completeUtf8(snow)).toBe(4);
    expect(completeUtf8(snow.subarray(0, 3))).toBe(1);
    expect(completeUtf8(Buffer.from([0, 1, 2]))).toBe(3);
    expect(completeUtf8(Buffer.from([0xff, 0xfe]))).toBe(2);
  });
});
