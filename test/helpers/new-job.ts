import { newId } from '../../src/util/ids.js';

/** A command job as the scheduler would insert it, for store-level tests. */
export const newJob = (priority = 0, extra: { token_id?: string; idempotency_key?: string } = {}) => ({
  id: newId('job'),
  kind: 'command',
  spec: { kind: 'command', command: ['true'] },
  priority,
  labels: undefined,
  token_id: extra.token_id ?? null,
  idempotency_key: extra.idempotency_key ?? null,
  request_hash: null,
  driver: 'bwrap',
});
