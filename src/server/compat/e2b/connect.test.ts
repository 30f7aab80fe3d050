import { describe, expect, it } from 'vitest';
import { PaddockError } from '../../../errors.js';
import { connectCode, readEnvelope } from './connect.js';

const env = (flags: number, json: string, length?: number) => {
  const body = Buffer.from(json);
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length ?? body.length, 1);
  return Buffer.concat([head, body]);
};

describe('Connect envelopes', () => {
  it('reads the one request message of a streaming call', () => {
    expect(readEnvelope(env(0, '{"process":{"cmd":"ls"}}'))).toEqual({ process: { cmd: 'ls' } });
  });

  it('refuses what is not exactly one uncompressed JSON envelope', () => {
    for (const bad of [undefined, Buffer.from('{}'), env(1, '{}'), env(2, '{}'), env(0, '{}', 99), env(0, '{}', 1), env(0, 'not json')]) {
      expect(() => readEnvelope(bad)).toThrow(PaddockError);
    }
    expect(() => readEnvelope(Buffer.concat([env(0, '{}'), env(0, '{}')]))).toThrow(/length/);
  });

  it("maps Paddock's codes to Connect's, so the SDK raises its own errors", () => {
    expect(connectCode(new PaddockError('not_found', 'x'))).toBe('not_found');
    expect(connectCode(new PaddockError('validation_failed', 'x'))).toBe('invalid_argument');
    expect(connectCode(new PaddockError('unauthorized', 'x'))).toBe('unauthenticated');
    expect(connectCode(new PaddockError('too_many_execs', 'x'))).toBe('resource_exhausted');
    expect(connectCode(new PaddockError('internal', 'x'))).toBe('internal');
  });
});
