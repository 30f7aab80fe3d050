import { spawn } from 'node:child_process';
import type Dockerode from 'dockerode';
import { PaddockError } from '../errors.js';
import type { Reporter } from './progress.js';

export const HASH_LABEL = 'paddock.image.hash';
const PING_TIMEOUT_MS = 3000;

export const dockerRepo = (name: string) => `paddock/${name}`;
export const dockerTag = (name: string, hash: string) => `${dockerRepo(name)}:${hash.slice(0, 12)}`;

/** Whether the Engine answers; a dead socket can hang, hence the timeout. */
export async function dockerReachable(docker: Dockerode): Promise<string | undefined> {
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), PING_TIMEOUT_MS).unref()),
    ]);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Makes `paddock/<name>:<hash12>` (and `:latest`) exist in the Engine, labelled
 * with the full hash, so the Docker and gVisor drivers run the same rootfs bwrap
 * binds. Returns the tag, or null when there is no reachable Engine — bwrap needs
 * only the rootfs, so that is a note, not an error.
 */
export async function ensureDockerImage(
  docker: Dockerode | undefined,
  image: { name: string; hash: string; rootfs: string },
  report: Reporter,
): Promise<string | null> {
  if (!docker) {
    report('docker', 'no Docker Engine configured; skipping the Docker import');
    return null;
  }
  const unreachable = await dockerReachable(docker);
  if (unreachable) {
    report('docker', `Docker Engine not reachable (${unreachable}); skipping the Docker import`);
    return null;
  }
  const tag = dockerTag(image.name, image.hash);
  if ((await labelledHash(docker, tag)) === image.hash) {
    await retagLatest(docker, tag, image.name);
    return tag;
  }
  report('docker', `importing the rootfs as ${tag}`);
  await importRootfs(docker, image, tag);
  if ((await labelledHash(docker, tag)) !== image.hash) {
    const why = `image ${image.name}: docker import produced no ${tag} labelled ${HASH_LABEL}`;
    throw new PaddockError('image_build_failed', why, { image: image.name, step: 'docker import' });
  }
  await retagLatest(docker, tag, image.name);
  report('docker', `imported ${tag}`);
  return tag;
}

async function labelledHash(docker: Dockerode, ref: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return info.Config?.Labels?.[HASH_LABEL];
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

async function retagLatest(docker: Dockerode, tag: string, name: string): Promise<void> {
  await docker.getImage(tag).tag({ repo: dockerRepo(name), tag: 'latest' });
}

/** Streams `tar` of the rootfs into POST /images/create?fromSrc=-; numeric owners keep uid 10001 as 10001. */
async function importRootfs(docker: Dockerode, image: { name: string; hash: string; rootfs: string }, tag: string) {
  const tar = spawn('tar', ['-C', image.rootfs, '-c', '--numeric-owner', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErr = '';
  tar.stderr.setEncoding('utf8').on('data', (c: string) => (tarErr += c));
  const tarDone = new Promise<number | null>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', resolve);
  });
  try {
    const res = await docker.importImage(tar.stdout, {
      repo: dockerRepo(image.name),
      tag: tag.slice(tag.lastIndexOf(':') + 1),
      // An imported tarball has no config; give it what a run needs and the label we look it up by.
      changes: [
        `LABEL ${HASH_LABEL}=${image.hash} paddock.image.name=${image.name}`,
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'CMD ["/bin/sh"]',
      ],
    });
    // The Engine reports import errors inside the progress stream, not as an HTTP status.
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(res, (err: Error | null, events: { error?: string }[]) => {
        const failed = err?.message ?? events.find((e) => e.error)?.error;
        if (failed) reject(new Error(failed));
        else resolve();
      });
    });
  } catch (err) {
    tar.kill();
    const why = `image ${image.name}: docker import failed: ${(err as Error).message}`;
    throw new PaddockError('image_build_failed', why, { image: image.name, step: 'docker import' });
  }
  const code = await tarDone;
  if (code !== 0) {
    const why = `image ${image.name}: tar of the rootfs exited with ${code}: ${tarErr.trim()}`;
    throw new PaddockError('image_build_failed', why, { image: image.name, step: 'docker import' });
  }
}

/** Removes `paddock/<name>` tags; an image still used by a container stays, with a note why. */
export async function removeDockerTags(docker: Dockerode, name: string, hash: string | undefined): Promise<string[]> {
  const notes: string[] = [];
  const refs = [`${dockerRepo(name)}:latest`, ...(hash ? [dockerTag(name, hash)] : [])];
  for (const ref of refs) {
    try {
      await docker.getImage(ref).remove();
      notes.push(`removed docker image ${ref}`);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404) notes.push(`kept docker image ${ref}: ${(err as Error).message}`);
    }
  }
  return notes;
}
