import type Dockerode from 'dockerode';
import { PaddockError } from '../../errors.js';
import { HASH_LABEL } from '../../images/docker-import.js';
import type { LauncherKind } from './launch.js';

const CACHE_MS = 5000;

/**
 * Maps a job's `image` to a Docker image: a Paddock-built image `name` is
 * `paddock/<name>:latest`; anything else is taken as a Docker reference the
 * user already has (no registry is ever pulled from).
 */
export class ImageResolver {
  private readonly cache = new Map<string, { ref: string; launcher: LauncherKind; at: number }>();

  constructor(private readonly docker: Dockerode) {}

  async resolve(image: string): Promise<string> {
    return (await this.lookup(image)).ref;
  }

  /**
   * The Docker reference, and which launcher the image can run: images Paddock
   * built (labelled with their recipe hash) are Debian minbase and have setpriv;
   * for any other image that is not known, so it gets the plain launcher.
   */
  async lookup(image: string): Promise<{ ref: string; launcher: LauncherKind }> {
    const hit = this.cache.get(image);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit;
    const candidates = /^[a-z0-9][a-z0-9._-]*$/.test(image) ? [`paddock/${image}:latest`, image] : [image];
    for (const ref of candidates) {
      const info = await this.docker.getImage(ref).inspect().catch(() => undefined);
      if (info) {
        const launcher: LauncherKind = info.Config?.Labels?.[HASH_LABEL] ? 'dropping' : 'plain';
        const entry = { ref, launcher, at: Date.now() };
        this.cache.set(image, entry);
        return entry;
      }
    }
    const available = await this.docker
      .listImages({ filters: { reference: ['paddock/*'] } })
      .then((list) => list.flatMap((i) => i.RepoTags ?? []).map((t) => t.replace(/^paddock\//, '').replace(/:latest$/, '')))
      .catch(() => [] as string[]);
    throw new PaddockError('image_not_found', `image "${image}" not found in the Docker Engine`, { image, available });
  }
}
