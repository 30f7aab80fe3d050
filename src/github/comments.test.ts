import { describe, expect, it } from 'vitest';
import { failureComment, isPaddockComment, pullRequestBody, successComment } from './comments.js';

const summary = { num_turns: 4, total_cost_usd: 0.0123, subtype: 'success', duration_ms: 65_000, changed_files: ['src/a.ts', 'we`ird`.md'] };

describe('Paddock comments', () => {
  it('carry the marker and the numbers', () => {
    const pr = pullRequestBody(7, summary, 'job_1');
    expect(pr.startsWith('Fixes #7\n')).toBe(true);
    const ok = successComment(summary, 'https://github.com/acme/w/pull/8', 'paddock/issue-7-x');
    for (const text of [pr, ok]) {
      expect(isPaddockComment(text)).toBe(true);
      expect(text).toContain('| 4 | $0.0123 | 1 min 5 s |');
      expect(text).toContain('`` we`ird`.md ``');
    }
    expect(ok).toContain('https://github.com/acme/w/pull/8');
    expect(successComment(summary, undefined, 'paddock/issue-7-x')).toContain('` paddock/issue-7-x `');
  });

  it('a failure detail cannot break out of its fence', () => {
    const text = failureComment('timeout', 'ran out\n~~~\n# injected heading\n~~~~', 2048);
    expect(isPaddockComment(text)).toBe(true);
    expect(text).toContain('` timeout `');
    expect(text).toContain('2048 bytes');
    const fence = /^(~{3,})$/m.exec(text)![1]!;
    expect(fence.length).toBeGreaterThan(4);
    expect(text.split('\n').filter((l) => l === fence)).toHaveLength(2);
    expect(failureComment('crash', '', 0)).toContain('changed nothing');
    expect(failureComment('crash', 'x'.repeat(100_000), 1).length).toBeLessThan(3000);
  });
});
