import { describe, expect, test } from 'vitest';
import { PaddockError } from '../../errors.js';
import { CallbackSecret, CallbackUrl, callbackUrlProblem, checkCallbackDestination } from './url.js';

describe('callback_url grammar', () => {
  test.each(['https://hooks.example.com/paddock', 'http://example.com:8080/a?b=c', 'http://127.0.0.1:9/x', 'https://[2001:db8::1]/'])(
    '%s is a callback URL',
    (url) => expect(CallbackUrl.safeParse(url).success).toBe(true),
  );

  test.each([
    ['ftp://example.com/', /http/],
    ['file:///etc/passwd', /http/],
    ['javascript:alert(1)', /http/],
    ['example.com/hook', /absolute/],
    ['https://user:pw@example.com/', /credentials/],
    ['https://token@example.com/', /credentials/],
    ['https://example.com/#frag', /fragment/],
    ['https://example.com/#', /fragment/],
    ['https://exa\nmple.com/', /control/],
    ['https://example.com/a b', /spaces/],
    [`https://example.com/${'a'.repeat(2048)}`, /2048/],
  ])('%s is refused', (url, why) => {
    expect(callbackUrlProblem(url)).toMatch(why);
    expect(CallbackUrl.safeParse(url).success).toBe(false);
  });

  test('a secret is 16 to 1024 printable characters', () => {
    expect(CallbackSecret.safeParse('0123456789abcdef').success).toBe(true);
    expect(CallbackSecret.safeParse('short').success).toBe(false);
    expect(CallbackSecret.safeParse('0123456789abcdef\n').success).toBe(false);
    expect(CallbackSecret.safeParse('x'.repeat(1025)).success).toBe(false);
  });
});

describe('checkCallbackDestination (at submit)', () => {
  const closed = { allow_private: false };
  test.each([
    'http://127.0.0.1/',
    'http://127.1/', // the URL parser reads it as 127.0.0.1
    'http://0x7f000001/',
    'http://[::1]:8080/',
    'http://[::ffff:127.0.0.1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.5/',
    'http://localhost:3000/',
    'http://LOCALHOST./',
    'http://api.localhost/',
  ])('%s is refused unless callbacks.allow_private', (url) => {
    expect(() => checkCallbackDestination(url, closed)).toThrow(PaddockError);
    expect(() => checkCallbackDestination(url, closed)).toThrow(/callbacks\.allow_private/);
    expect(() => checkCallbackDestination(url, { allow_private: true })).not.toThrow();
  });

  test('public addresses and names pass (names are checked again when resolved)', () => {
    for (const url of ['https://8.8.8.8/', 'https://hooks.example.com/x', 'http://[2606:4700::1111]/']) {
      expect(() => checkCallbackDestination(url, closed)).not.toThrow();
    }
  });
});
