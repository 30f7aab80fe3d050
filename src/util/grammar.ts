/**
 * Grammars of the strings that reach a command line, a path or another API.
 * Each is checked at the API boundary (src/jobs/spec.ts), so nothing a user
 * sends can be read as a path segment, an option or a URL by whatever is behind.
 */

// Docker's reference grammar (distribution/reference):
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [ domain "/" ] path-component [ "/" path-component ]*
//   domain    := host [ ":" port ] ; host := domain-name | IPv4 | "[" IPv6 "]"
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[_.]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const NAME = `(?:${DOMAIN}/)?${REMOTE_NAME}`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** Docker refuses names (without tag and digest) longer than this. */
const NAME_MAX = 255;

/** True when `ref` is a Docker image reference `[registry[:port]/]name[:tag][@digest]`. */
export function isImageReference(ref: string): boolean {
  const m = REFERENCE_RE.exec(ref);
  return m !== null && m[1]!.length <= NAME_MAX;
}

export const IMAGE_REFERENCE_HINT = 'must be an image reference [registry[:port]/]name[:tag][@digest] (lower-case name)';

/** A Paddock-built image's name (a directory under images_dir and `paddock/<name>` in Docker). */
export const IMAGE_NAME_RE = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Label keys: DNS-ish, as Kubernetes and Docker users expect (`team`, `example.com/tier`). */
export const LABEL_KEY_RE = /^[a-z0-9](?:[a-z0-9._/-]{0,98}[a-z0-9])?$/i;

/** Printable text without control characters (they would reach logs and terminals). */
export const PRINTABLE_RE = /^[^\p{Cc}]*$/u;

/** Sandbox driver names, as in `drivers` config. */
export const DRIVER_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** An absolute path inside a sandbox without NUL, control characters, or `.`/`..` segments. */
export function isCleanAbsolutePath(p: string): boolean {
  if (!p.startsWith('/') || p.length > 4096 || !PRINTABLE_RE.test(p)) return false;
  return p.split('/').every((seg) => seg !== '.' && seg !== '..');
}

/** A DNS name (lower case, dot-separated labels of 1–63 letters, digits and inner hyphens). */
export const DOMAIN_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
