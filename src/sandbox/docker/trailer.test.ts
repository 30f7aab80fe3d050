import { describe, expect, it } from 'vitest';
import { TrailerScanner } from './trailer.js';

const MARK = '#paddock-exit:abc123';

function scan(chunks: string[]) {
  let out = '';
  const s = new TrailerScanner(MARK, (b) => (out += b.toString()));
  for (const c of chunks) s.push(Buffer.from(c));
  s.flush();
  return { out, code: s.code };
}

describe('TrailerScanner', () => {
  it('strips the trailer and reads the exit code', () => {
    expect(scan([`hello\n${MARK} 3\n`])).toEqual({ out: 'hello\n', code: 3 });
  });

  it('works whatever the chunking, byte by byte too', () => {
    const text = `a${MARK.slice(0, 5)}b\nmore ${MARK} 42\n`;
    const bytes = [...text].map((c) => c);
    expect(scan(bytes)).toEqual({ out: `a${MARK.slice(0, 5)}b\nmore `, code: 42 });
  });

  it('passes a partial mark through when the stream ends without a trailer', () => {
    expect(scan(['out', MARK.slice(0, 7)])).toEqual({ out: `out${MARK.slice(0, 7)}`, code: undefined });
  });

  it('ignores what comes after the trailer', () => {
    expect(scan([`x${MARK} 0\nlate`])).toEqual({ out: 'x', code: 0 });
  });
});
