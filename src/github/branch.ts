import { isGitRefName } from '../agents/grammar.js';

const SLUG_MAX = 40;

/**
 * A branch name slug from an issue title: ASCII letters and digits (accents folded, everything
 * else a `-`), lower case, at most 40 characters. Empty when nothing of the title survives.
 */
export function slugOf(title: string): string {
  return title
    .slice(0, 1000)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, SLUG_MAX)
    .replace(/^-+|-+$/g, '');
}

/** `paddock/issue-N-<slug>` (`paddock/issue-N` for a title with no ASCII letter or digit). */
export function branchName(issue: { number: number; title: string }): string {
  const slug = slugOf(issue.title);
  const name = slug ? `paddock/issue-${issue.number}-${slug}` : `paddock/issue-${issue.number}`;
  // The slug grammar cannot make a bad ref; this guards the grammar itself.
  if (!isGitRefName(name)) throw new Error(`branch name ${JSON.stringify(name)} is not a git ref name`);
  return name;
}
