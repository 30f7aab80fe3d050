import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../../runtime.js';
import { sandboxEventRoutes } from './events.js';
import { sandboxExecRoutes } from './exec.js';
import { sandboxFileRoutes } from './files.js';
import { sandboxLifecycleRoutes } from './lifecycle.js';
import { sandboxPreviewRoutes } from './previews.js';
import { sandboxSnapshotRoutes } from './snapshots.js';
import { SandboxStreams } from './streams.js';

/** `/v1/sandboxes…`: lifecycle, exec, files, events and previews of persistent sandboxes (src/sandboxes/). */
export function sandboxRoutes(app: FastifyInstance, rt: Runtime): void {
  const streams = new SandboxStreams(rt);
  sandboxLifecycleRoutes(app, rt);
  sandboxExecRoutes(app, rt, streams);
  sandboxFileRoutes(app, rt);
  sandboxEventRoutes(app, rt, streams);
  sandboxPreviewRoutes(app, rt);
  sandboxSnapshotRoutes(app, rt);
}
