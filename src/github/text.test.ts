import { describe, expect, it } from 'vitest';
import { cleanText, truncateUtf8 } from './text.js';

describe('truncateUtf8', () => {
  it('leaves short text alone', () => {
    expect(truncateUtf8('héllo', 6)).toEqual({ text: 'héllo', truncated: false });
  });

  it('cuts at a character boundary, within the limit, and says so', () => {
    for (const text of ['é'.repeat(5000), '🚀'.repeat(5000), 'a€'.repeat(5000), 'x'.repeat(5000)]) {
      for (const max of [40, 41, 42, 43, 1000]) {
        const cut = truncateUtf8(text, max);
        expect(cut.truncated).toBe(true);
        expect(Buffer.byteLength(cut.text)).toBeLessThanOrEqual(max);
        expect(cut.text).not.toContain('\uFFFD');
        expect(cut.text).toMatch(/truncated by Paddock\]$/);
      }
    }
  });
});

describe('cleanText', () => {
  it('drops NUL and control characters but keeps newlines and tabs', () => {
    expect(cleanText('a\u0000b\r\nc\rd\te\u001b[31m\u007f')).toBe('ab\nc\nd\te[31m');
    expect(cleanText(undefined)).toBe('');
    expect(cleanText(42)).toBe('');
  });
});
