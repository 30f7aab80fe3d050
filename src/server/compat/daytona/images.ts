import { PaddockError } from '../../../errors.js';
import { IMAGE_NAME_RE, isImageReference } from '../../../util/grammar.js';
import { notSupported } from './unsupported.js';

/** The image a sandbox gets when it names no snapshot (Daytona's default snapshot). */
export const DEFAULT_IMAGE = 'base';

/** Daytona's own default snapshots, by the names its SDK and docs use: they stand for the default image. */
const DAYTONA_DEFAULTS = /^(?:daytonaio\/sandbox(?::[\w.-]+)?|daytona-(?:small|medium|large))$/;

/** `python`, `python:3.12`, `python:3.12-slim`, `paddock/python`, `docker.io/library/python:3`: the python image. */
const PYTHON = /^(?:(?:docker\.io\/)?(?:library\/)?|paddock\/)python(?::[\w.-]+)?$/;

/**
 * A Daytona snapshot name or base image as the name of a Paddock image: none or Daytona's
 * default → `base`; Python in any of its usual spellings → `python`; `paddock/<name>` → `<name>`;
 * any other name is taken as it is (the driver then checks it has that image: else `404`).
 */
export function paddockImage(name: string | undefined): string {
  if (name === undefined || name === '' || DAYTONA_DEFAULTS.test(name)) return DEFAULT_IMAGE;
  if (PYTHON.test(name)) return 'python';
  const bare = name.startsWith('paddock/') ? name.slice('paddock/'.length).replace(/:latest$/, '') : name;
  if (!isImageReference(bare) && !IMAGE_NAME_RE.test(bare)) {
    throw new PaddockError('validation_failed', `snapshot "${name}" is not an image name such as python or paddock/base`);
  }
  return bare;
}

/**
 * `Image.base("python:3.12")` arrives as `buildInfo.dockerfileContent: "FROM python:3.12\n"`.
 * Paddock builds no images from a Dockerfile: only a lone FROM line (any comments and blank lines
 * aside) is taken, as that image; anything more is refused as not supported.
 */
export function imageOfDockerfile(dockerfile: string): string {
  const lines = dockerfile
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const from = lines.length === 1 ? /^FROM\s+(\S+)(?:\s+AS\s+\S+)?$/i.exec(lines[0]!) : null;
  if (!from) {
    throw notSupported('building an image from a Dockerfile', 'only `FROM <image>` (Image.base) is taken; build the image with `paddock image build`');
  }
  return paddockImage(from[1]!);
}
