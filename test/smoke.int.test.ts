import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestRunner, type TestRunner } from './helpers/runner.js';

let runner: TestRunner;
beforeAll(async () => {
  runner = await startTestRunner();
});
afterAll(() => runner.close());

it('runs echo hi', async () => {
  const res = await runner.api('POST', '/v1/jobs?wait=true', { kind: 'command', command: ['echo', 'hi'] });
  console.log(JSON.stringify(res.body, null, 1));
  expect(res.status).toBe(201);
  const health = await runner.api('GET', '/health');
  console.log(health.body);
});
