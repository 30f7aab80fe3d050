import { describe, expect, it } from 'vitest';
import { decodeField, encode64, utf8 } from './base64.js';
import { decimal } from './coerce.js';

describe('Judge0 base64', () => {
  it('encodes as Ruby’s encode64: a newline every 60 characters and at the end', () => {
    expect(encode64(Buffer.from('hello, Judge0\n'))).toBe('aGVsbG8sIEp1ZGdlMAo=\n');
    const long = encode64(Buffer.alloc(100, 'a'));
    expect(long.split('\n').map((l) => l.length)).toEqual([60, 60, 16, 0]);
    expect(Buffer.from(long, 'base64').toString()).toBe('a'.repeat(100));
    expect(encode64(Buffer.alloc(0))).toBe('');
  });

  it('decodes with line breaks and refuses what is not base64', () => {
    expect(decodeField('aGVsbG8sIEp1\nZGdlMAo=\n', 'stdin').toString()).toBe('hello, Judge0\n');
    expect(() => decodeField('aGVsbG8', 'stdin')).toThrow(/stdin is not valid base64/);
    expect(() => decodeField('a b=', 'stdin')).toThrow();
  });

  it('tells UTF-8 from other bytes', () => {
    expect(utf8(Buffer.from('žluť'))).toBe('žluť');
    expect(utf8(Buffer.from([0xfe]))).toBeUndefined();
  });

  it('renders decimals as Rails does', () => {
    expect([5, 0.002, 2.5, 0.01, 0, 15].map(decimal)).toEqual(['5.0', '0.002', '2.5', '0.01', '0.0', '15.0']);
  });
});
