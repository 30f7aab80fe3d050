// Names from GitHub that reach paths, command lines and API URLs here: checked against their
// grammar where they come in (config, webhook payloads, REST answers).

/** An account (user or organisation) login: GitHub's rule, 1–39 characters, no leading hyphen. */
export const OWNER_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
/** A repository name. */
export const REPO_RE = /^[A-Za-z0-9_.-]{1,100}$/;
/** `owner/repo`. */
export const FULL_REPO_RE = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9_.-]{1,100})$/;
/** A runner label as workflows write them in `runs-on` (GitHub compares them case-insensitively). */
export const LABEL_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** A pool's name: it goes into runner names (`paddock-<pool>-<job>`) and metrics labels. */
export const POOL_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export interface RepoRef {
  owner: string;
  repo: string;
}

/** `owner/repo` split, or undefined when it is not one. */
export function parseFullRepo(text: string): RepoRef | undefined {
  const m = FULL_REPO_RE.exec(text);
  if (!m || m[2] === '.' || m[2] === '..') return undefined;
  return { owner: m[1]!, repo: m[2]! };
}
