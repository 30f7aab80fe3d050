import { describe, expect, it } from 'vitest';
import { apiKeyAuth } from './model-auth.js';

describe('apiKeyAuth', () => {
  it('sends the key as x-api-key and names it as a secret', async () => {
    const a = apiKeyAuth('sk-ant-123456789');
    expect(a.kind).toBe('api_key');
    expect(await a.headers()).toEqual({ 'x-api-key': 'sk-ant-123456789' });
    expect(a.secrets()).toEqual(['sk-ant-123456789']);
  });

  it('fails with agent_auth_unavailable without a key', async () => {
    await expect(apiKeyAuth('').headers()).rejects.toMatchObject({ code: 'agent_auth_unavailable' });
    expect(apiKeyAuth('').secrets()).toEqual([]);
  });
});
