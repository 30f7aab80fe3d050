/** The package's `paddock/client` entry: a typed client for the runner's HTTP API. */
export { PaddockClient, type ClientOptions } from './client.js';
export { Http, type HttpOptions, type RequestOptions } from './http.js';
export { JobsApi, type EventOptions, type SubmitOptions } from './jobs.js';
export { SandboxesApi, type ExecStreamOptions, type SandboxEvent } from './sandboxes.js';
export { SandboxFilesApi, type Download } from './sandbox-files.js';
export { ExecStream, type ExecEvent } from './exec-stream.js';
export { readSse, DEFAULT_SSE_LIMITS, type SseLimits, type SseMessage } from './sse.js';
export { resumableSse, type ResumeOptions } from './resume.js';
export { problemToError } from './problems.js';
export type { UploadSource } from './body.js';
export type * from './types.js';
export type * from './sandbox-types.js';
export { ERROR_CODES, PaddockError, type ErrorCode } from '../errors.js';
