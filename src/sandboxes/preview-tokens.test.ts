import { describe, expect, test } from 'vitest';
import { SandboxEvents } from './events.js';
import { MAX_PREVIEW_TOKENS, PreviewTokens } from './preview-tokens.js';

describe('preview tokens', () => {
  const setup = () => {
    const events = new SandboxEvents();
    events.publish('sbx_a', 'created');
    events.publish('sbx_b', 'created');
    return { events, tokens: new PreviewTokens(events) };
  };

  test('a token opens its sandbox (its port, or any) until it expires; never another sandbox', () => {
    const { tokens } = setup();
    const now = Date.now();
    const one = tokens.issue('sbx_a', 8080, now + 1000).token;
    const any = tokens.issue('sbx_a', null, now + 1000).token;
    expect(one).toMatch(/^pdkp_[A-Za-z0-9_-]{43}$/);
    expect(tokens.check([one], 'sbx_a', 8080, now)?.port).toBe(8080);
    expect(tokens.check([one], 'sbx_a', 8081, now)).toBeUndefined();
    expect(tokens.check([any], 'sbx_a', 8081, now)?.port).toBeNull();
    expect(tokens.check([one], 'sbx_b', 8080, now)).toBeUndefined();
    expect(tokens.check([one], 'sbx_a', 8080, now + 1000)).toBeUndefined();
    expect(tokens.check(['junk', `${one}x`, one], 'sbx_a', 8080, now)).toBeDefined();
  });

  test('the sandbox’s end drops its tokens; a destroyed sandbox gets none; at most MAX per sandbox', () => {
    const { events, tokens } = setup();
    const t = tokens.issue('sbx_a', 1, Date.now() + 60_000).token;
    tokens.issue('sbx_b', 1, Date.now() + 60_000);
    events.publish('sbx_a', 'destroyed');
    expect(tokens.check([t], 'sbx_a', 1)).toBeUndefined();
    expect(tokens.size).toBe(1);
    expect(() => tokens.issue('sbx_a', 1, Date.now() + 1000)).toThrow(/destroyed/);
    for (let i = 1; i < MAX_PREVIEW_TOKENS; i++) tokens.issue('sbx_b', 1, Date.now() + 60_000);
    expect(() => tokens.issue('sbx_b', 1, Date.now() + 60_000)).toThrow(expect.objectContaining({ code: 'quota_exceeded' }));
  });
});
