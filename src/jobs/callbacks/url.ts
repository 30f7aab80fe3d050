import { isIP } from 'node:net';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { PRINTABLE_RE } from '../../util/grammar.js';
import { isPrivateAddress } from './address.js';

export const CALLBACK_URL_MAX = 2048;

/**
 * Why `text` is not a callback URL, or undefined when it is one: http(s) only, at most 2048
 * characters, no credentials (they would be stored with the job and shown in its URL), no fragment.
 * Control characters are refused before parsing, since the URL parser would silently drop tabs and newlines.
 */
export function callbackUrlProblem(text: string): string | undefined {
  if (text.length > CALLBACK_URL_MAX) return `must be at most ${CALLBACK_URL_MAX} characters`;
  if (!PRINTABLE_RE.test(text) || /\s/.test(text)) return 'must not contain spaces or control characters';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username || url.password) return 'must not carry credentials (user:password@); sign with callback_secret instead';
  if (url.hash || text.includes('#')) return 'must not have a #fragment';
  if (!url.hostname) return 'must name a host';
  return undefined;
}

export const CallbackUrl = z.string().superRefine((text, ctx) => {
  const problem = callbackUrlProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** HMAC key of a job's callbacks; never returned by the API. */
export const CallbackSecret = z
  .string()
  .min(16, 'must be at least 16 characters')
  .max(1024, 'must be at most 1024 characters')
  .regex(PRINTABLE_RE, 'must not contain control characters');

/** The host to connect to: brackets of an IPv6 literal removed. */
export const urlHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * What can be told from the URL alone, at submit: an address literal or a `localhost` name that is
 * private is refused unless `allow_private`. A name is resolved only when the callback is sent
 * (src/jobs/callbacks/send.ts checks every address it connects to), since DNS may change meanwhile.
 */
export function checkCallbackDestination(text: string, policy: { allow_private: boolean }): void {
  if (policy.allow_private) return;
  const host = urlHost(new URL(text)).toLowerCase().replace(/\.$/, '');
  const literal = isIP(host) !== 0;
  if ((literal && isPrivateAddress(host)) || host === 'localhost' || host.endsWith('.localhost')) {
    throw new PaddockError(
      'validation_failed',
      `callback_url: ${host} is a loopback, private or link-local destination; this runner refuses those (callbacks.allow_private)`,
      { field: 'callback_url' },
    );
  }
}
