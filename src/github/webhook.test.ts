import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GithubConfig } from '../config/github.js';
import { example, issueCommentCreated, issueLabeled, issueOpened } from '../../test/helpers/github-webhooks.js';
import { PADDOCK_COMMENT_MARKER } from './comments.js';
import { mentions, triggerOf, verifySignature } from './webhook.js';

const secret = "It's a Secret to Everybody";
const body = 'Hello, World!';
// The example of GitHub's documentation ("Validating webhook deliveries").
const documented = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

describe('verifySignature', () => {
  it('accepts the signature of GitHub’s documented example', () => {
    expect(verifySignature(secret, Buffer.from(body), documented)).toBe(true);
    expect(verifySignature(secret, body, documented.toUpperCase().replace('SHA256=', 'sha256='))).toBe(true);
  });

  it('refuses a signature made with another secret or over another body', () => {
    const other = `sha256=${createHmac('sha256', 'other').update(body).digest('hex')}`;
    expect(verifySignature(secret, body, other)).toBe(false);
    expect(verifySignature(secret, `${body} `, documented)).toBe(false);
  });

  it('refuses a missing, malformed or wrong-length header, and an empty secret', () => {
    expect(verifySignature(secret, body, undefined)).toBe(false);
    expect(verifySignature(secret, body, [documented])).toBe(false);
    expect(verifySignature(secret, body, '')).toBe(false);
    expect(verifySignature(secret, body, documented.slice(7))).toBe(false);
    expect(verifySignature(secret, body, documented.slice(0, -2))).toBe(false);
    expect(verifySignature(secret, body, `${documented}00`)).toBe(false);
    expect(verifySignature(secret, body, `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`)).toBe(false);
    expect(verifySignature(secret, body, documented.replace('e17', 'e1z'))).toBe(false);
    expect(verifySignature('', body, `sha256=${createHmac('sha256', '').update(body).digest('hex')}`)).toBe(false);
  });
});

describe('triggerOf', () => {
  const config = GithubConfig.parse({});
  const target = { repo: 'acme/widgets', number: 7 };
  const issue = { owner: 'acme', repo: 'widgets', number: 7 };

  it('starts a job when the trigger label is added, not for another label', () => {
    expect(triggerOf('issues', issueLabeled({ ...target, label: 'paddock' }), config)).toMatchObject({ issue });
    expect(triggerOf('issues', issueLabeled({ ...target, label: 'bug' }), config)).toBeNull();
    // The untouched example (label "bug") starts nothing either.
    expect(triggerOf('issues', example('issues', 'labeled'), config)).toBeNull();
    expect(triggerOf('issues', issueLabeled({ ...target, label: 'triage' }), { ...config, trigger_label: 'triage' })).toMatchObject({ issue });
  });

  it('starts a job for a comment that mentions the phrase, with the comment', () => {
    const t = triggerOf('issue_comment', issueCommentCreated({ ...target, body: '@paddock please fix this', commentId: 99 }), config);
    expect(t).toEqual({ issue, comment_id: 99, comment: '@paddock please fix this', sender: 'Codertocat' });
    expect(triggerOf('issue_comment', example('issue_comment', 'created'), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...target, body: 'no mention' }), config)).toBeNull();
  });

  it('ignores bots, Paddock’s own comments, pull requests and people without a role', () => {
    const mention = { ...target, body: '@paddock go' };
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, user: { login: 'paddock-app[bot]', type: 'Bot' } }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, user: { login: 'ci[bot]' } }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...target, body: `@paddock failed\n${PADDOCK_COMMENT_MARKER}` }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, pullRequest: true }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, association: 'NONE' }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, association: 'CONTRIBUTOR' }), config)).toBeNull();
    expect(triggerOf('issue_comment', issueCommentCreated({ ...mention, association: 'MEMBER' }), config)).not.toBeNull();
  });

  it('takes an opened issue that mentions the phrase, unless it carries the label (its labeled delivery starts the job)', () => {
    expect(triggerOf('issues', issueOpened({ ...target, body: 'Crash on start. @paddock' }), config)).toMatchObject({ issue });
    expect(triggerOf('issues', issueOpened({ ...target, body: 'Crash on start.' }), config)).toBeNull();
    expect(triggerOf('issues', issueOpened({ ...target, body: '@paddock', labels: ['paddock'] }), config)).toBeNull();
    expect(triggerOf('issues', issueOpened({ ...target, body: '@paddock', association: 'NONE' }), config)).toBeNull();
  });

  it('respects allowed_repos, case-insensitively', () => {
    const payload = issueLabeled({ ...target, label: 'paddock' });
    expect(triggerOf('issues', payload, { ...config, allowed_repos: ['ACME/Widgets'] })).not.toBeNull();
    expect(triggerOf('issues', payload, { ...config, allowed_repos: ['acme/other'] })).toBeNull();
  });

  it('ignores other events and actions, closed issues and payloads that are not what they claim', () => {
    expect(triggerOf('issue_comment', { ...issueCommentCreated({ ...target, body: '@paddock' }), action: 'edited' }, config)).toBeNull();
    expect(triggerOf('issues', { ...issueLabeled({ ...target, label: 'paddock' }), action: 'unlabeled' }, config)).toBeNull();
    expect(triggerOf('ping', example('ping'), config)).toBeNull();
    const closed = issueLabeled({ ...target, label: 'paddock' });
    closed.issue.state = 'closed';
    expect(triggerOf('issues', closed, config)).toBeNull();
    for (const junk of [null, 1, 'x', [], {}, { issue: {}, repository: {} }, { action: 'labeled', label: { name: 'paddock' }, issue: { number: 1, state: 'open' }, repository: { full_name: '../x' } }]) {
      expect(triggerOf('issues', junk, config)).toBeNull();
    }
    const bad = issueLabeled({ ...target, label: 'paddock' });
    bad.issue.number = '7; rm -rf';
    expect(triggerOf('issues', bad, config)).toBeNull();
  });
});

describe('mentions', () => {
  it('finds the phrase as a word of its own only', () => {
    expect(mentions('@paddock fix it', '@paddock')).toBe(true);
    expect(mentions('please, @Paddock.', '@paddock')).toBe(true);
    expect(mentions('(@paddock)', '@paddock')).toBe(true);
    expect(mentions('@paddockbot fix', '@paddock')).toBe(false);
    expect(mentions('@paddock-team fix', '@paddock')).toBe(false);
    expect(mentions('mail me@paddock.dev', '@paddock')).toBe(false);
    expect(mentions('a+b (x)', 'a+b')).toBe(true);
  });
});
