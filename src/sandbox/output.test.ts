import { describe, expect, it } from 'vitest';
import { OutputCapture, streamDecoder, utf8Boundary } from './output.js';

describe('OutputCapture', () => {
  it('keeps everything under the limit', () => {
    const c = new OutputCapture(10);
    c.push(Buffer.from('hello '));
    c.push(Buffer.from('you'));
    expect(c.text()).toBe('hello you');
    expect(c.truncated).toBe(false);
  });

  it('cuts at the limit and flags truncation', () => {
    const c = new OutputCapture(5);
    expect(c.push(Buffer.from('abc')).toString()).toBe('abc');
    expect(c.push(Buffer.from('defgh')).toString()).toBe('de');
    expect(c.push(Buffer.from('more')).length).toBe(0);
    expect(c.text()).toBe('abcde');
    expect(c.truncated).toBe(true);
  });

  it('never splits a multi-byte character at the cap', () => {
    const c = new OutputCapture(5);
    c.push(Buffer.from('ab€€')); // € is 3 bytes: a b [e2 82 ac] [e2 82 ac]
    expect(c.text()).toBe('ab€');
    const d = new OutputCapture(4);
    d.push(Buffer.from('ab€'));
    expect(d.text()).toBe('ab');
    expect(d.text()).not.toContain('\ufffd');
  });

  it('finds boundaries', () => {
    const buf = Buffer.from('a€b');
    expect(utf8Boundary(buf, 2)).toBe(1);
    expect(utf8Boundary(buf, 4)).toBe(4);
    expect(utf8Boundary(buf, 99)).toBe(5);
  });
});

describe('streamDecoder', () => {
  it('joins characters split across chunks', () => {
    const decode = streamDecoder();
    const bytes = Buffer.from('x€y');
    expect(decode(bytes.subarray(0, 2)) + decode(bytes.subarray(2))).toBe('x€y');
  });
});
