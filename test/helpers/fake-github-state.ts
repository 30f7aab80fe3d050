/**
 * The fake GitHub's memory (repositories, issues with labels and comments, pull requests) and
 * how it renders them: the REST API's documented shapes, with the fields Octokit users read.
 */

export interface FakeUser {
  login: string;
  type?: 'User' | 'Bot' | 'Organization';
}

export interface FakeComment {
  id: number;
  issue: number;
  user: FakeUser;
  body: string;
  author_association: string;
  created_at: string;
}

export interface FakeIssue {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  labels: string[];
  user: FakeUser;
  author_association: string;
  comments: FakeComment[];
  /** Set on the issue that stands for a pull request (GitHub numbers them together). */
  pull?: FakePull;
  created_at: string;
}

export interface FakePull {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  head: string;
  base: string;
  head_sha: string;
  base_sha: string;
  user: FakeUser;
  created_at: string;
}

export interface FakeRepo {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  default_branch: string;
  /** The bare repository behind it. */
  dir: string;
  issues: Map<number, FakeIssue>;
  pulls: FakePull[];
  nextNumber: number;
}

let ids = 1000;
export const nextId = (): number => ++ids;
export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class Shapes {
  constructor(
    readonly api: string,
    readonly web: string,
  ) {}

  user(u: FakeUser) {
    const type = u.type ?? (u.login.endsWith('[bot]') ? 'Bot' : 'User');
    return {
      login: u.login,
      id: idOf(u.login),
      node_id: `U_${u.login}`,
      avatar_url: `${this.web}/avatars/${encodeURIComponent(u.login)}`,
      url: `${this.api}/users/${encodeURIComponent(u.login)}`,
      html_url: `${this.web}/${encodeURIComponent(u.login)}`,
      type,
      site_admin: false,
    };
  }

  repo(r: FakeRepo) {
    const full = `${r.owner}/${r.name}`;
    return {
      id: r.id,
      node_id: `R_${r.id}`,
      name: r.name,
      full_name: full,
      private: r.private,
      owner: this.user({ login: r.owner }),
      html_url: `${this.web}/${full}`,
      url: `${this.api}/repos/${full}`,
      clone_url: `${this.web}/${full}.git`,
      default_branch: r.default_branch,
      visibility: r.private ? 'private' : 'public',
      fork: false,
      archived: false,
      disabled: false,
      has_issues: true,
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
    };
  }

  label(name: string) {
    return { id: idOf(name), node_id: `LA_${idOf(name)}`, url: `${this.api}/labels/${encodeURIComponent(name)}`, name, color: 'ededed', default: false, description: null };
  }

  issue(r: FakeRepo, i: FakeIssue) {
    const full = `${r.owner}/${r.name}`;
    return {
      id: i.id,
      node_id: `I_${i.id}`,
      url: `${this.api}/repos/${full}/issues/${i.number}`,
      repository_url: `${this.api}/repos/${full}`,
      comments_url: `${this.api}/repos/${full}/issues/${i.number}/comments`,
      html_url: `${this.web}/${full}/${i.pull ? 'pull' : 'issues'}/${i.number}`,
      number: i.number,
      state: i.state,
      state_reason: null,
      title: i.title,
      body: i.body,
      user: this.user(i.user),
      labels: i.labels.map((l) => this.label(l)),
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      comments: i.comments.length,
      author_association: i.author_association,
      created_at: i.created_at,
      updated_at: i.comments.at(-1)?.created_at ?? i.created_at,
      closed_at: null,
      ...(i.pull
        ? {
            pull_request: {
              url: `${this.api}/repos/${full}/pulls/${i.number}`,
              html_url: `${this.web}/${full}/pull/${i.number}`,
              diff_url: `${this.web}/${full}/pull/${i.number}.diff`,
              patch_url: `${this.web}/${full}/pull/${i.number}.patch`,
              merged_at: null,
            },
          }
        : {}),
    };
  }

  comment(r: FakeRepo, c: FakeComment) {
    const full = `${r.owner}/${r.name}`;
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${this.api}/repos/${full}/issues/comments/${c.id}`,
      html_url: `${this.web}/${full}/issues/${c.issue}#issuecomment-${c.id}`,
      issue_url: `${this.api}/repos/${full}/issues/${c.issue}`,
      body: c.body,
      user: this.user(c.user),
      created_at: c.created_at,
      updated_at: c.created_at,
      author_association: c.author_association,
    };
  }

  pull(r: FakeRepo, p: FakePull) {
    const full = `${r.owner}/${r.name}`;
    const end = (ref: string, sha: string) => ({ label: `${r.owner}:${ref}`, ref, sha, user: this.user({ login: r.owner }), repo: this.repo(r) });
    return {
      id: p.id,
      node_id: `PR_${p.id}`,
      url: `${this.api}/repos/${full}/pulls/${p.number}`,
      html_url: `${this.web}/${full}/pull/${p.number}`,
      diff_url: `${this.web}/${full}/pull/${p.number}.diff`,
      issue_url: `${this.api}/repos/${full}/issues/${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      body: p.body,
      user: this.user(p.user),
      draft: false,
      merged: false,
      mergeable: null,
      head: end(p.head, p.head_sha),
      base: end(p.base, p.base_sha),
      author_association: 'NONE',
      created_at: p.created_at,
      updated_at: p.created_at,
      closed_at: null,
      merged_at: null,
    };
  }
}

/** Stable small ids for logins and labels. */
function idOf(text: string): number {
  let h = 7;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)!) % 1_000_000_007;
  return h;
}
