import { describe, expect, it } from 'vitest';
import { isTerminal, statesBefore } from './states.js';

describe('job states', () => {
  it('allows only the documented moves', () => {
    expect(statesBefore('running')).toEqual(['queued']);
    expect(statesBefore('succeeded')).toEqual(['running']);
    expect(statesBefore('cancelled')).toEqual(['queued', 'running']);
    expect(statesBefore('queued')).toEqual(['running']);
    expect(statesBefore('expired')).toEqual(['queued']);
  });
  it('knows the terminal states', () => {
    expect(isTerminal('timed_out')).toBe(true);
    expect(isTerminal('expired')).toBe(true);
    expect(isTerminal('running')).toBe(false);
  });
});
