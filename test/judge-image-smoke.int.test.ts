import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR } from './helpers/agent-env.js';
import { CLI } from './helpers/cli.js';
import { judgeImageMissing } from './helpers/judge-env.js';
import { TEST_UID_RANGE } from './helpers/sandbox.js';

// `paddock image build judge` smoke-tests every judge language in the image it built, as the runner
// does at start; a language that fails makes the command fail. The images are cached: `--smoke`
// runs the smoke programs without a rebuild. On bwrap (the images dir is all it needs).
const CI = process.env.CI === 'true';
const missing = judgeImageMissing();
const UID = 64_900;

describe('image build runs the judge smoke programs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-image-smoke-'));
  chmodSync(dir, 0o711); // the sandbox's uid passes through to the data dir's files it is given
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  if (missing && !CI) return void it.skip(`needs: ${missing}`);

  /** `paddock image build <image> --smoke` with the judge image set to `judgeImage`. */
  const build = (image: string, judgeImage: string) => {
    const config = path.join(dir, `${judgeImage}.toml`);
    writeFileSync(config, `drivers = ["bwrap"]\n[sandbox]\nuid_range_start = ${UID}\nuid_range_size = ${TEST_UID_RANGE}\n[judge]\nimage = "${judgeImage}"\n`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PADDOCK_')));
    const r = spawnSync(process.execPath, [CLI, 'image', 'build', image, '--smoke', '--config', config, '--images-dir', IMAGES_DIR, '--data-dir', path.join(dir, 'data')], {
      env,
      encoding: 'utf8',
      timeout: 180_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('the judge image: every language ok, with its version, exit 0', () => {
    if (missing) throw new Error(missing);
    const r = build('judge', 'judge');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/LANGUAGE\s+VERSION\s+SMOKE \(bwrap\)\n/);
    for (const [id, version] of [['python', /Python 3\.\d+/], ['c', /\d+\.\d+/], ['java', /openjdk/], ['bash', /\d+\.\d+/]] as const) {
      expect(r.stdout).toMatch(new RegExp(`\\n${id}\\s+${version.source}.*\\sok\\n`));
    }
    expect(r.stdout.match(/\sok\n/g)).toHaveLength(6);
  }, 200_000);

  it('an image without the compilers (base as the judge image): those FAILED, language_unhealthy, non-zero exit', () => {
    const r = build('base', 'base');
    expect(r.code, r.stderr).toBe(1);
    for (const [id, bin] of [['python', 'python3'], ['javascript', 'node'], ['c', 'gcc'], ['java', 'javac']]) {
      expect(r.stdout).toMatch(new RegExp(`\\n${id}\\s+-\\s+FAILED: not_found: exec: ${bin}: not found`));
    }
    expect(r.stdout).toMatch(/\nbash\s+\d+\.\d+\S*\s+ok\n/); // base has bash
    expect(r.stderr).toMatch(/language_unhealthy: the judge image base fails the smoke test of python, javascript, c, cpp, java;/);
  }, 200_000);
});
