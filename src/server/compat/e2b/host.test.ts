import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { e2bHostRewrite } from './host.js';

const req = (host: string, url: string, headers: Record<string, string> = {}) => ({ url, headers: { host, ...headers } }) as unknown as IncomingMessage;
const ID = 'sbx_01m8wgnabb42npxrrnxy3tcdt4';

describe('E2B host-name routing', () => {
  const rewrite = e2bHostRewrite('e2b.example.com', '/e2b', () => '/next')!;

  it('sends api.<domain> to the control API and 49983-<id>.<domain> to that sandbox’s envd', () => {
    expect(rewrite(req('api.e2b.example.com', '/v2/sandboxes?x=1'))).toBe('/e2b/v2/sandboxes?x=1');
    const envd = req(`49983-${ID}.e2b.example.com:443`, '/process.Process/Start');
    expect(rewrite(envd)).toBe('/e2b/process.Process/Start');
    expect(envd.headers['e2b-sandbox-id']).toBe(ID);
  });

  it('never lets the host name and E2b-Sandbox-Id disagree', () => {
    const other = req(`49983-${ID}.e2b.example.com`, '/files', { 'e2b-sandbox-id': 'sbx_01m8wgnhegkhmn0e7tgf8fajh4' });
    rewrite(other);
    expect(other.headers['e2b-sandbox-id']).toBe('mismatch');
  });

  it('leaves other hosts to the next rewrite (previews), and is off without a domain', () => {
    expect(rewrite(req('3000-x.e2b.example.com', '/'))).toBe('/next');
    expect(rewrite(req('api.other.com', '/v2/sandboxes'))).toBe('/next');
    expect(rewrite(req(`49983-sbx_BAD.e2b.example.com`, '/'))).toBe('/next');
    expect(e2bHostRewrite('', '/e2b')).toBeUndefined();
  });
});
