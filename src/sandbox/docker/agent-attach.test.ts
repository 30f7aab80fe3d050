import { describe, expect, it } from 'vitest';
import { lineLogger } from '../agent-diagnostics.js';

describe('lineLogger (the agent\'s stderr)', () => {
  it('logs whole lines, however the bytes are cut, and stops after a bounded number', () => {
    const seen: string[] = [];
    const push = lineLogger((l) => seen.push(l));
    push(Buffer.from('first li'));
    push(Buffer.from('ne\nsecond\n\nthi'));
    expect(seen).toEqual(['first line', 'second']);
    push(Buffer.from('rd\n'));
    for (let i = 0; i < 100; i++) push(Buffer.from(`flood ${i}\n`));
    expect(seen.length).toBe(13);
    expect(seen.at(-1)).toBe('[further agent diagnostics dropped]');
    expect(seen[2]).toBe('third');
  });

  it('cuts long lines and bounds the bytes it reads', () => {
    const seen: string[] = [];
    const push = lineLogger((l) => seen.push(l));
    push(Buffer.from(`${'x'.repeat(5000)}\n`));
    expect(seen.every((l) => l.length <= 512)).toBe(true);
    expect(seen.at(-1)).toBe('[further agent diagnostics dropped]');
  });
});
