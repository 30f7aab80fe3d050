import { createHmac } from 'node:crypto';
import { expect, test } from 'vitest';
import { signBody, verifySignature } from './signature.js';

test('the signature is sha256=<hex HMAC-SHA256(secret, body)> over the exact bytes', () => {
  const body = '{"job_id":"job_1","state":"running"}';
  const hex = createHmac('sha256', 'it-is-a-secret!!').update(body).digest('hex');
  expect(signBody('it-is-a-secret!!', body)).toBe(`sha256=${hex}`);
  // GitHub's documented example for X-Hub-Signature-256 (same scheme): secret "It's a Secret to Everybody", body "Hello, World!".
  expect(signBody("It's a Secret to Everybody", 'Hello, World!')).toBe(
    'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
  );
});

test('verification fails for another secret, another body or a missing header', () => {
  const body = '{"a":1}';
  const header = signBody('secret-number-one', body);
  expect(verifySignature('secret-number-one', body, header)).toBe(true);
  expect(verifySignature('secret-number-two', body, header)).toBe(false);
  expect(verifySignature('secret-number-one', '{"a":2}', header)).toBe(false);
  expect(verifySignature('secret-number-one', `${body} `, header)).toBe(false);
  expect(verifySignature('secret-number-one', body, undefined)).toBe(false);
  expect(verifySignature('secret-number-one', body, 'sha256=00')).toBe(false);
});
