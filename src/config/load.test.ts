import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { loadConfig, redactConfig } from './load.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'paddock-config-'));

describe('loadConfig', () => {
  it('layers defaults < file < env < flags', () => {
    const dir = tmp();
    const file = path.join(dir, 'paddock.toml');
    writeFileSync(file, 'port = 9000\nhost = "0.0.0.0"\n[limits.default]\ntimeout_ms = 1000\n');
    const config = loadConfig({
      file,
      env: { PADDOCK_PORT: '9100', PADDOCK_LIMITS__DEFAULT__PIDS: '7', PADDOCK_DATA_DIR: dir },
      flags: { port: 9200 },
    });
    expect(config.port).toBe(9200);
    expect(config.host).toBe('0.0.0.0');
    expect(config.limits.default.timeout_ms).toBe(1000);
    expect(config.limits.default.pids).toBe(7);
    expect(config.limits.default.memory_mb).toBe(512);
    expect(config.store_url).toBe(`sqlite:${dir}/paddock.db`);
  });

  it('names the bad key and its source', () => {
    const bad = () => loadConfig({ env: { PADDOCK_LIMITS__DEFAULT__TIMEOUT_MS: '-5' } });
    expect(bad).toThrow(PaddockError);
    expect(bad).toThrow(/limits\.default\.timeout_ms.*PADDOCK_LIMITS__DEFAULT__TIMEOUT_MS/);
  });

  it('rejects unknown keys by name', () => {
    const dir = tmp();
    const file = path.join(dir, 'paddock.toml');
    writeFileSync(file, 'prot = 1\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/prot/);
  });

  it('reports invalid TOML with the file name', () => {
    const dir = tmp();
    const file = path.join(dir, 'paddock.toml');
    writeFileSync(file, 'port = = 1\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(new RegExp(`${file} is not valid TOML`));
  });

  it('clamps defaults to the configured maxima', () => {
    const config = loadConfig({ env: { PADDOCK_LIMITS__MAX__PIDS: '10' } });
    expect(config.limits.default.pids).toBe(10);
  });

  it('redacts passwords in the store URL', () => {
    const config = loadConfig({ env: { PADDOCK_STORE_URL: 'postgres://u:hunter2@db/paddock' } });
    expect(JSON.stringify(redactConfig(config))).not.toContain('hunter2');
  });

  it('takes the model key and GitHub token from the variables the tools read, below PADDOCK_*, and redacts them', () => {
    const env = { ANTHROPIC_API_KEY: 'sk-ant-secret', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/', GITHUB_TOKEN: 'ghp_secret' };
    const config = loadConfig({ env });
    expect(config.agents.model_api).toMatchObject({ api_key: 'sk-ant-secret', base_url: 'http://127.0.0.1:9/' });
    expect(config.github.token).toBe('ghp_secret');
    expect(loadConfig({ env: { ...env, PADDOCK_AGENTS__MODEL_API__API_KEY: 'sk-other' } }).agents.model_api.api_key).toBe('sk-other');
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toContain('sk-ant-secret');
    expect(printed).not.toContain('ghp_secret');
    expect(printed).toContain('[REDACTED]');
    expect(config.agents.model_api.api_key).toBe('sk-ant-secret');
  });
});
