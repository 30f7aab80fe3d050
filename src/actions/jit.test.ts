import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRestStub } from '../../test/helpers/github-rest-stub.js';
import { deleteRunner, generateJitConfig } from './jit.js';

// generate-jitconfig against a loopback server answering as GitHub's REST API documents it:
// 201 {runner, encoded_jit_config}; 403/404/409/422 {message, documentation_url}.
const ENCODED = Buffer.from(JSON.stringify({ '.runner': 'x', '.credentials': 'y' })).toString('base64');
let stub: Awaited<ReturnType<typeof startRestStub>>;
beforeAll(async () => {
  stub = await startRestStub();
});
afterAll(() => stub.close());
const octokit = () => stub.octokit();
const repo = { repo: { owner: 'acme', repo: 'api' } };
const req = { name: 'paddock-small-1', labels: ['self-hosted', 'paddock'], groupId: 1 };

describe('just-in-time runner registration', () => {
  it('asks for a runner of that name, labels and group, and keeps the config out of every printout', async () => {
    stub.answers.set('POST /repos/acme/api/actions/runners/generate-jitconfig', [201, { runner: { id: 23, name: 'paddock-small-1', status: 'offline', busy: false, labels: [] }, encoded_jit_config: ENCODED }]);
    const r = await generateJitConfig(octokit(), repo, req);
    expect(r.runnerId).toBe(23);
    expect(r.config.reveal()).toBe(ENCODED);
    expect(JSON.stringify(r)).not.toContain(ENCODED);
    expect(inspect(r)).not.toContain(ENCODED);
    expect(`${r.config}`).toBe('[REDACTED]');
    expect(stub.seen.at(-1)).toEqual({
      method: 'POST',
      path: '/repos/acme/api/actions/runners/generate-jitconfig',
      body: { name: 'paddock-small-1', runner_group_id: 1, labels: ['self-hosted', 'paddock'], work_folder: '_work' },
    });
    stub.answers.set('POST /orgs/acme/actions/runners/generate-jitconfig', [201, { runner: { id: 24 }, encoded_jit_config: ENCODED }]);
    expect((await generateJitConfig(octokit(), { org: 'acme' }, req)).runnerId).toBe(24);
  });

  it('GitHub\'s refusals are errors that say what to fix', async () => {
    const path = 'POST /repos/acme/api/actions/runners/generate-jitconfig';
    const cases: [number, string, RegExp][] = [
      [403, 'Resource not accessible by personal access token', /403 Resource not accessible.*Administration: write.*runner group 1/],
      [404, 'Not Found', /no acme\/api or runner group 1/],
      [409, 'Already exists - A runner with the name paddock-small-1 already exists.', /already registered.*409/],
      [422, 'Invalid input: object is missing required key: runner_group_id', /did not accept.*422 Invalid input/],
    ];
    for (const [status, message, want] of cases) {
      stub.answers.set(path, [status, { message, documentation_url: 'https://docs.github.com/rest/actions/self-hosted-runners' }]);
      const err = await generateJitConfig(octokit(), repo, req).catch((e: unknown) => e as { code: string; message: string });
      expect(err.message, String(status)).toMatch(want);
      expect(err.code).toBe(status === 404 ? 'github_not_found' : 'github_error');
    }
    // 201 without a registration in it is GitHub's failure, not a runner.
    stub.answers.set(path, [201, { runner: { id: 'x' } }]);
    await expect(generateJitConfig(octokit(), repo, req)).rejects.toMatchObject({ code: 'github_error', message: /not a runner registration/ });
  });

  it('removing a runner that is already gone is done', async () => {
    stub.answers.set('DELETE /repos/acme/api/actions/runners/23', [204, undefined]);
    await deleteRunner(octokit(), repo, 23);
    await deleteRunner(octokit(), repo, 99);
    stub.answers.set('DELETE /repos/acme/api/actions/runners/7', [403, { message: 'Must have admin rights to Repository.' }]);
    await expect(deleteRunner(octokit(), repo, 7)).rejects.toMatchObject({ code: 'github_error', message: /403/ });
  });
});
