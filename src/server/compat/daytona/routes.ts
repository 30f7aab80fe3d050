import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../../runtime.js';
import { daytonaCodeRunRoutes } from './code-run.js';
import { daytonaControlRoutes } from './control.js';
import { installDaytonaErrors } from './errors.js';
import { daytonaFileRoutes } from './files.js';
import { daytonaProcessRoutes } from './process.js';
import { daytonaSnapshotRoutes } from './snapshots.js';
import { controlUnsupported, toolboxFallback, toolboxUnsupported } from './unsupported.js';

/** The SDK's body-less POSTs (stop, start, createFolder…) may carry a form content type: read (64 KiB at most) and ignored. */
function ignoreOtherBodies(scope: FastifyInstance): void {
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, _body, done) => done(null, undefined));
}

/**
 * A Daytona compatible API (for @daytonaio/sdk) under `daytona.prefix`, over Paddock's persistent
 * sandboxes: `<prefix>/api` is the control API (Daytona's apiUrl), `<prefix>/toolbox/:id` what the
 * SDK reaches through each sandbox's `toolboxProxyUrl`. Auth is Paddock's bearer token
 * (sandboxes:read / sandboxes:write) — the SDK's apiKey. Errors are Daytona's JSON.
 * The SDK's event socket (`<prefix>/api/socket.io/`) is answered 404, so it falls back to polling.
 */
export async function daytonaCompatRoutes(app: FastifyInstance, rt: Runtime): Promise<void> {
  const prefix = rt.config.daytona.prefix;
  if (!prefix) return;
  await app.register(
    async (scope) => {
      installDaytonaErrors(scope, 'DAYTONA_API');
      ignoreOtherBodies(scope);
      daytonaControlRoutes(scope, rt);
      daytonaSnapshotRoutes(scope, rt);
      controlUnsupported(scope);
    },
    { prefix: `${prefix}/api` },
  );
  const sockets = new Set<Duplex>();
  await app.register(
    async (scope) => {
      installDaytonaErrors(scope, 'DAYTONA_DAEMON');
      ignoreOtherBodies(scope);
      daytonaProcessRoutes(scope, rt, sockets);
      daytonaCodeRunRoutes(scope, rt);
      daytonaFileRoutes(scope, rt);
      toolboxUnsupported(scope);
      toolboxFallback(scope);
      // The server's close waits for every socket; a log stream's is one.
      scope.addHook('preClose', async () => {
        for (const s of sockets) s.destroy();
      });
    },
    { prefix: `${prefix}/toolbox` },
  );
}
