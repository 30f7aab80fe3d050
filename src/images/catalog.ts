import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { PaddockError } from '../errors.js';
import { dockerReachable, removeDockerTags } from './docker-import.js';
import { type ImageManifest, readManifest } from './manifest.js';
import { isValidImageName } from './recipe.js';
import { removeTree } from './tree.js';

/** An image on disk. A rootfs put there by hand has no manifest, so its facts are null. */
export interface ImageInfo {
  name: string;
  rootfs: string;
  hash: string | null;
  parent: string | null;
  built_at: string | null;
  size_bytes: number | null;
  docker_image: string | null;
}

/**
 * Images that a sandbox can use: `<name>/rootfs` directories. Dot-entries are
 * the builder's own (`.build-*`, `.lock-*`) and never images.
 */
export async function listImages(imagesDir: string): Promise<ImageInfo[]> {
  let entries: string[];
  try {
    entries = await readdir(imagesDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const images: ImageInfo[] = [];
  for (const name of entries.sort()) {
    if (!isValidImageName(name)) continue;
    const dir = path.join(imagesDir, name);
    const rootfs = path.join(dir, 'rootfs');
    if (!existsSync(rootfs)) continue;
    images.push(toInfo(name, rootfs, await readManifest(dir)));
  }
  return images;
}

function toInfo(name: string, rootfs: string, m: ImageManifest | undefined): ImageInfo {
  return {
    name,
    rootfs,
    hash: m?.hash ?? null,
    parent: m?.parent ?? null,
    built_at: m?.built_at ?? null,
    size_bytes: m?.size_bytes ?? null,
    docker_image: m?.docker_image ?? null,
  };
}

/** One image; `image_not_found` names the images that do exist, so a typo is easy to fix. */
export async function getImage(imagesDir: string, name: string): Promise<ImageInfo> {
  const images = await listImages(imagesDir);
  const found = isValidImageName(name) ? images.find((i) => i.name === name) : undefined;
  if (found) return found;
  const known = images.map((i) => i.name);
  const available = known.length ? known.join(', ') : 'none; run paddock image build';
  throw new PaddockError('image_not_found', `image "${name}" not found in ${imagesDir} (available: ${available})`, {
    image: name,
    available: known,
  });
}

/**
 * Removes an image's directory and its `paddock/<name>` Docker tags. The
 * directory is renamed away first so it disappears at once for new jobs.
 * Returns notes on what was done (a tag still used by a container is kept).
 * Tags are per Engine, not per images dir: another images dir holding the same
 * image loses them too, and gets them back on its next (cached) build.
 */
export async function removeImage(imagesDir: string, name: string, docker?: Dockerode): Promise<string[]> {
  const image = await getImage(imagesDir, name);
  const notes: string[] = [];
  const trash = await mkdtemp(path.join(imagesDir, `.rm-${name}-`));
  await rename(path.join(imagesDir, name), path.join(trash, name));
  await removeTree(trash);
  notes.push(`removed ${path.join(imagesDir, name)}`);
  if (docker && !(await dockerReachable(docker))) {
    notes.push(...(await removeDockerTags(docker, name, image.hash ?? undefined)));
  }
  return notes;
}
