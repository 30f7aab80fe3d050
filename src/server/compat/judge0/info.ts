import type { FastifyInstance } from 'fastify';
import { findLanguage } from '../../../judge/languages.js';
import type { Runtime } from '../../../runtime.js';
import { VERSION } from '../../../version.js';
import { CALLBACK_TRIES } from './callbacks.js';
import { notFound } from './errors.js';
import { languageList, languageView } from './languages.js';
import type { Judge0Limits } from './limits.js';
import { MAX_EXTRACT_BYTES } from './request.js';
import { readId } from './coerce.js';
import { STATUSES } from './statuses.js';

export const MAX_BATCH = 20;
const read = { scope: 'jobs:read' as const, authToken: true };
const tags = ['judge0'];

/** Judge0's `/config_info` with this runner's values; what Paddock does not offer reads as off. */
function configInfo(rt: Runtime, l: Judge0Limits) {
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: true,
    allowed_languages_for_compile_options: [],
    enable_command_line_arguments: true,
    enable_submission_delete: false,
    enable_callbacks: true,
    callbacks_max_tries: CALLBACK_TRIES,
    callbacks_timeout: rt.config.callbacks.timeout_ms / 1000,
    enable_additional_files: true,
    max_queue_size: rt.config.queue.max_queued,
    cpu_time_limit: l.cpu_time_limit.default,
    max_cpu_time_limit: l.cpu_time_limit.max,
    cpu_extra_time: l.cpu_extra_time.default,
    max_cpu_extra_time: l.cpu_extra_time.max,
    wall_time_limit: l.wall_time_limit.default,
    max_wall_time_limit: l.wall_time_limit.max,
    memory_limit: l.memory_limit.default,
    max_memory_limit: l.memory_limit.max,
    stack_limit: l.stack_limit.default,
    max_stack_limit: l.stack_limit.max,
    max_processes_and_or_threads: l.max_processes_and_or_threads.default,
    max_max_processes_and_or_threads: l.max_processes_and_or_threads.max,
    enable_per_process_and_thread_time_limit: false,
    allow_enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    allow_enable_per_process_and_thread_memory_limit: false,
    max_file_size: l.max_file_size.default,
    max_max_file_size: l.max_file_size.max,
    number_of_runs: l.number_of_runs.default,
    max_number_of_runs: l.number_of_runs.max,
    redirect_stderr_to_stdout: false,
    max_extract_size: MAX_EXTRACT_BYTES / 1024,
    enable_batched_submissions: true,
    max_submission_batch_size: MAX_BATCH,
    submission_cache_duration: 0,
    use_docs_as_homepage: false,
    allow_enable_network: false,
    enable_network: false,
    disable_implicit_base64_encoding: false,
  };
}

/** Languages, statuses and the server's own description, as Judge0 CE answers them. */
export function infoRoutes(app: FastifyInstance, rt: Runtime, limits: Judge0Limits): void {
  const list = { config: read, schema: { summary: 'Languages (Judge0)', tags } };
  app.get('/languages', list, async () => languageList(rt.judge));
  app.get('/languages/all', list, async () => languageList(rt.judge));
  app.get<{ Params: { id: string } }>('/languages/:id', { config: read, schema: { summary: 'A language (Judge0)', tags } }, async (request) => {
    const id = readId(request.params.id);
    const language = id === undefined ? undefined : findLanguage(id);
    if (!language) throw notFound();
    return languageView(language, rt.judge, Math.ceil(limits.memory_limit.default / 1024));
  });
  app.get('/statuses', { config: read, schema: { summary: 'Statuses (Judge0)', tags } }, async () => STATUSES);
  app.get('/about', { config: read, schema: { summary: 'About (Judge0)', tags } }, async () => ({
    version: VERSION,
    // Judge0 reads these from its environment; Paddock has no public address to name.
    homepage: null,
    source_code: null,
    maintainer: 'Paddock (a Judge0 CE compatible API over judge jobs)',
  }));
  app.get('/version', { config: read, schema: { summary: 'Version (Judge0)', tags } }, async (_request, reply) => reply.type('text/plain').send(VERSION));
  app.get('/config_info', { config: read, schema: { summary: 'Configuration (Judge0)', tags } }, async () => configInfo(rt, limits));
  app.post('/authenticate', { config: read, schema: { summary: 'Check the X-Auth-Token (Judge0)', tags } }, async (_request, reply) => reply.code(200).send());
}
