import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, redactText } from './redact.js';

const KEY = 'sk-ant-api03-SECRETSECRET';

async function through(chunks: string[], secrets: string[]): Promise<string[]> {
  const out: string[] = [];
  const r = new Redactor(secrets);
  r.on('data', (c: Buffer) => out.push(c.toString()));
  await new Promise((resolve, reject) => Readable.from(chunks.map((c) => Buffer.from(c))).pipe(r).on('end', resolve).on('error', reject));
  return out;
}

describe('Redactor', () => {
  it('replaces a secret split over chunks', async () => {
    const out = await through(['data: a sk-ant-ap', 'i03-SECRET', 'SECRET b\n\n'], [KEY]);
    expect(out.join('')).toBe(`data: a ${REDACTED} b\n\n`);
  });

  it('holds back only a tail that could start a secret', async () => {
    const out = await through(['event: ping\n\n', 'x sk-a', 'nother thing\n'], [KEY]);
    expect(out[0]).toBe('event: ping\n\n');
    expect(out[1]).toBe('x ');
    expect(out.join('')).toBe('event: ping\n\nx sk-another thing\n');
  });

  it('replaces every occurrence of every secret, and leaves short values alone', async () => {
    const out = await through([`${KEY}${KEY} tok-REFRESH-123 x`], [KEY, 'tok-REFRESH-123', 'x']);
    expect(out.join('')).toBe(`${REDACTED}${REDACTED} ${REDACTED} x`);
    expect(redactText(`k=${KEY}`, [KEY])).toBe(`k=${REDACTED}`);
  });
});
