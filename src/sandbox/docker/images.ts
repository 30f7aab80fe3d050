import type Dockerode from 'dockerode';
import { PaddockError } from '../../errors.js';

const CACHE_MS = 5000;

/**
 * Maps a job's `image` to a Docker image: a Paddock-built image `name` is
 * `paddock/<name>:latest`; anything else is taken as a Docker reference the
 * user already has (no registry is ever pulled from).
 */
export class ImageResolver {
  private readonly cache = new Map<string, { ref: string; at: number }>();

  constructor(private readonly docker: Dockerode) {}

  /** The Docker reference of `image`; every image runs the same way (the agent is bind-mounted in). */
  async resolve(image: string): Promise<string> {
    const hit = this.cache.get(image);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.ref;
    const candidates = /^[a-z0-9][a-z0-9._-]*$/.test(image) ? [`paddock/${image}:latest`, image] : [image];
    for (const ref of candidates) {
      const info = await this.docker.getImage(ref).inspect().catch(() => undefined);
      if (info) {
        this.cache.set(image, { ref, at: Date.now() });
        return ref;
      }
    }
    const available = await this.docker
      .listImages({ filters: { reference: ['paddock/*'] } })
      .then((list) => list.flatMap((i) => i.RepoTags ?? []).map((t) => t.replace(/^paddock\//, '').replace(/:latest$/, '')))
      .catch(() => [] as string[]);
    throw new PaddockError('image_not_found', `image "${image}" not found in the Docker Engine`, { image, available });
  }
}
