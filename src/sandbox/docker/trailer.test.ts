import { describe, expect, it } from 'vitest';
import { parseExitStatus, TrailerScanner } from './trailer.js';

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

describe('TrailerScanner is strict', () => {
  it('takes only 0–255 as an exit status; anything else is output', () => {
    for (const bad of ['99999999999999999999', '256', '-1', '1e3', ' 3', '03', '0x1', '', 'abc']) {
      expect(scan([`a${MARK} ${bad}\nb`]), bad).toEqual({ out: `a${MARK} ${bad}\nb`, code: undefined });
    }
    expect(scan([`${MARK} 255\n`]).code).toBe(255);
    expect(scan([`${MARK} 0\n`]).code).toBe(0);
  });

  it('holds back at most the mark and four bytes: a mark without a newline is output', () => {
    let out = '';
    const s = new TrailerScanner(MARK, (b) => (out += b.toString()));
    s.push(Buffer.from(`${MARK} 1`));
    expect(out).toBe('');
    s.push(Buffer.from('2345678'));
    expect(out).toBe(`${MARK} 12345678`);
    expect(s.code).toBeUndefined();
  });

  it('finds the real trailer after a forged one', () => {
    expect(scan([`${MARK} 999\n${MARK} 4\n`])).toEqual({ out: `${MARK} 999\n`, code: 4 });
  });
});

describe('parseExitStatus', () => {
  it('parses digits up to 255 and nothing else', () => {
    expect([0, 7, 255].map((n) => parseExitStatus(String(n)))).toEqual([0, 7, 255]);
    for (const bad of ['256', '1e20', '99999999999999999999', '+1', '1.0', '']) expect(parseExitStatus(bad)).toBeNull();
  });
});
