import { constants } from 'node:os';

/**
 * Both bwrap and a container's shell report a command killed by signal N as exit
 * code 128+N; read it back as the signal's name (null for ordinary codes).
 */
export function signalOfExitCode(code: number | null): string | null {
  if (code === null || code <= 128 || code >= 160) return null;
  return Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0] ?? null;
}
