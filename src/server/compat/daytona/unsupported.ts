import type { FastifyInstance } from 'fastify';
import { PaddockError } from '../../../errors.js';

/**
 * What Daytona offers and Paddock's sandboxes do not (yet), answered in one place with a 422
 * (the SDK raises DaytonaUnprocessableEntityError) whose message says so, instead of a 404 that
 * would read like "no such sandbox".
 */
export function notSupported(feature: string, why = ''): PaddockError {
  return new PaddockError('driver_unavailable', `${feature} is not supported on this runner (Paddock)${why ? `: ${why}` : ''}`, {
    daytona_code: 'NOT_SUPPORTED',
  });
}

/** Control routes (under `<prefix>/api`) with no Paddock counterpart. */
const CONTROL: [method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'ALL', url: string, feature: string][] = [
  ['POST', '/sandbox/:id/archive', 'archive'],
  ['POST', '/sandbox/:id/backup', 'backup'],
  ['POST', '/sandbox/:id/recover', 'recover'],
  ['POST', '/sandbox/:id/resize', 'resize'],
  ['POST', '/sandbox/:id/pause', 'pause (stop maps to Paddock\'s pause)'],
  ['PUT', '/sandbox/:id/labels', 'changing labels after creation'],
  ['POST', '/sandbox/:id/autopause/:interval', 'autoPauseInterval'],
  ['POST', '/sandbox/:id/autoarchive/:interval', 'changing autoArchiveInterval after creation'],
  ['POST', '/sandbox/:id/autodelete/:interval', 'changing autoDeleteInterval after creation'],
  ['POST', '/sandbox/:id/ttl/:ttl', 'a TTL (Paddock bounds every sandbox by sandboxes.max_lifetime_ms)'],
  ['POST', '/sandbox/:id/network-settings', 'changing network settings'],
  ['POST', '/sandbox/:id/public/:isPublic', 'public sandboxes'],
  ['PUT', '/sandbox/:id/secrets', 'secrets'],
  ['POST', '/sandbox/:id/ssh-access', 'SSH access'],
  ['GET', '/sandbox/:id/ports/:port/preview-url', 'preview links (use Paddock\'s /v1/sandboxes/:id/ports/:port)'],
  ['GET', '/sandbox/:id/ports/:port/signed-preview-url', 'signed preview links'],
  ['GET', '/sandbox/:id/signing-key', 'signed file URLs'],
  ['GET', '/sandbox/:id/build-logs-url', 'image builds'],
  ['GET', '/sandbox/:id/telemetry/metrics', 'metrics'],
  // Whole services Paddock has none of: every method and path below them.
  ['ALL', '/snapshots', 'snapshots (Paddock images are listed by `paddock image list`)'],
  ['ALL', '/snapshots/*', 'snapshots (Paddock images are listed by `paddock image list`)'],
  ['ALL', '/volumes', 'volumes'],
  ['ALL', '/volumes/*', 'volumes'],
  ['ALL', '/secret', 'secrets'],
  ['ALL', '/secret/*', 'secrets'],
  ['ALL', '/warm-pools', 'warm pools'],
  ['ALL', '/warm-pools/*', 'warm pools'],
  ['ALL', '/object-storage/*', 'image build contexts'],
];

/** Toolbox routes (under `<prefix>/toolbox/:id`) with no Paddock counterpart. */
const TOOLBOX: [method: 'GET' | 'POST' | 'DELETE', url: string, feature: string][] = [
  ['GET', '/process/pty', 'PTY sessions'],
  ['POST', '/process/pty', 'PTY sessions'],
  ['GET', '/process/pty/create-connect', 'PTY sessions'],
  ['GET', '/process/pty/:sid/connect', 'PTY sessions'],
  ['GET', '/process/session/entrypoint', 'the entrypoint session'],
  ['GET', '/process/session/entrypoint/logs', 'the entrypoint session'],
  ['GET', '/files/find', 'find in files'],
  ['GET', '/files/search', 'file search'],
  ['POST', '/files/replace', 'replace in files'],
  ['POST', '/files/permissions', 'changing permissions'],
  ['POST', '/files/upload-v2', 'signed upload URLs'],
];

function register(app: FastifyInstance, routes: [string, string, string][], scope: 'sandboxes:read' | 'sandboxes:write'): void {
  for (const [method, url, feature] of routes) {
    const handler = async () => Promise.reject(notSupported(feature));
    if (method === 'ALL') app.all(url, { config: { scope } }, handler);
    else app.route({ method: method as 'GET', url, config: { scope }, handler });
  }
}

/**
 * Under the toolbox every path is the daemon's: one Paddock does not serve (git, LSP, computer use,
 * a newer SDK's) is a feature it lacks, not a missing sandbox. Authenticated like the rest.
 */
export function toolboxFallback(app: FastifyInstance): void {
  app.all<{ Params: { '*': string } }>('/:id/*', { config: { scope: 'sandboxes:read' } }, async (request) => {
    throw notSupported(`the toolbox endpoint /${request.params['*'].slice(0, 200)}`);
  });
}

export const controlUnsupported = (app: FastifyInstance) => register(app, CONTROL, 'sandboxes:read');
export const toolboxUnsupported = (app: FastifyInstance) => register(app, TOOLBOX, 'sandboxes:read');
