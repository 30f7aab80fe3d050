import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { resumableSse } from './resume.js';

const utf8 = new TextEncoder();

/** A stream that sends `text` and then either closes or fails like a cut connection. */
function stream(text: string, end: 'close' | 'cut' = 'close'): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent && text) c.enqueue(utf8.encode(text));
      else if (end === 'close') c.close();
      else c.error(new TypeError('terminated'));
      sent = true;
    },
  });
}

async function collect(gen: AsyncIterable<{ id: string | undefined; data: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of gen) out.push(`${m.id}:${m.data}`);
  return out;
}

describe('resumableSse', () => {
  it('resumes after the last event id when the connection is cut, and stops at the end event', async () => {
    const asked: (string | undefined)[] = [];
    const answers = [
      () => stream('id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\nda', 'cut'),
      () => Promise.reject(new PaddockError('unreachable', 'down')),
      () => stream('id: 3\ndata: c\n\nid: 4\nevent: end\ndata: d\n\nid: 5\ndata: never\n\n'),
    ];
    const got = await collect(
      resumableSse({
        open: async (last) => {
          asked.push(last);
          return answers[asked.length - 1]!();
        },
        lastEventId: '0',
        isEnd: (m) => m.event === 'end',
        resumeOnClose: true,
        delayMs: 1,
      }),
    );
    expect(got).toEqual(['1:a', '2:b', '3:c', '4:d']);
    expect(asked).toEqual(['0', '2', '2']);
  });

  it('without resumeOnClose, a clean close ends it', async () => {
    let opened = 0;
    const got = await collect(
      resumableSse({ open: async () => (opened++, stream('id: 1\ndata: a\n\n')), resumeOnClose: false, delayMs: 1 }),
    );
    expect([got, opened]).toEqual([['1:a'], 1]);
  });

  it('does not retry an error the server answered', async () => {
    let opened = 0;
    const gen = resumableSse({
      open: async () => {
        opened++;
        throw new PaddockError('not_found', 'no job');
      },
      resumeOnClose: true,
      delayMs: 1,
    });
    await expect(collect(gen)).rejects.toMatchObject({ code: 'not_found' });
    expect(opened).toBe(1);
  });

  it('gives up after `retries` reconnects in a row without an event, also when each closes cleanly', async () => {
    let opened = 0;
    const gen = resumableSse({ open: async () => (opened++, stream('')), resumeOnClose: true, retries: 3, delayMs: 1 });
    await expect(collect(gen)).rejects.toMatchObject({ code: 'unreachable' });
    expect(opened).toBe(4);
  });

  it('an event in between resets the count', async () => {
    // Every other connection fails at once; the others send an event, then are cut.
    const flaky = (retries: number) => {
      let opened = 0;
      return resumableSse({
        open: async () => {
          opened++;
          if (opened > 6) return stream('data: end\nevent: end\n\n');
          return opened % 2 === 0 ? stream(`id: ${opened}\ndata: x\n\n`, 'cut') : stream('', 'cut');
        },
        isEnd: (m) => m.event === 'end',
        resumeOnClose: true,
        retries,
        delayMs: 1,
      });
    };
    // Two failures in a row each time (the cut after the event, then the failed connect).
    expect(await collect(flaky(2))).toEqual(['2:x', '4:x', '6:x', '6:end']);
    await expect(collect(flaky(1))).rejects.toThrow('terminated');
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    const gen = resumableSse({
      open: async () => stream('', 'cut'),
      resumeOnClose: true,
      delayMs: 60_000,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('stop')), 20);
    const started = Date.now();
    await expect(collect(gen)).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
