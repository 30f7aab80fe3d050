import { createRequire } from 'node:module';
import Dockerode from 'dockerode';

const require = createRequire(import.meta.url);

/*
 * docker-modem follows HTTP redirects, to any host: a path the Engine answers
 * with a redirect (Go's mux cleans `..` segments with a 301) once turned a job's
 * image name into a request to a TCP address taken from that name — an SSRF, and
 * an `error` on a request nobody listened to, which ended the runner. The Engine
 * API never redirects on purpose, so following is turned off for the process;
 * names are also checked against their grammar at the API boundary.
 */
(require('docker-modem/lib/http.js') as { maxRedirects: number }).maxRedirects = 0;

/** The one way Paddock makes an Engine API client. */
export function engineClient(socketPath: string): Dockerode {
  return new Dockerode({ socketPath });
}
