import { describe, expect, it } from 'vitest';
import { signalOfExitCode } from './signals.js';

describe('signalOfExitCode', () => {
  it('reads 128+N as signal N, and nothing else', () => {
    expect(signalOfExitCode(137)).toBe('SIGKILL');
    expect(signalOfExitCode(141)).toBe('SIGPIPE');
    expect(signalOfExitCode(0)).toBeNull();
    expect(signalOfExitCode(128)).toBeNull();
    expect(signalOfExitCode(200)).toBeNull();
    expect(signalOfExitCode(null)).toBeNull();
  });
});
