import { createHash, randomBytes } from 'node:crypto';
import { PaddockError } from '../errors.js';
import type { SandboxEvents } from './events.js';

/** Live preview tokens one sandbox may have; beyond it `429 quota_exceeded` (each costs a map entry). */
export const MAX_PREVIEW_TOKENS = 256;

const TOKEN_RE = /^pdkp_[A-Za-z0-9_-]{43}$/;

/** What a preview token lets its bearer reach: one sandbox, one port of it or any. */
export interface PreviewGrant {
  sandboxId: string;
  /** null: every port of the sandbox. */
  port: number | null;
  expiresAt: number;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Per-sandbox preview tokens (`pdkp_<256 random bits>`), held in memory as
 * sha256 hashes only. In memory because a sandbox does not outlive this process
 * either: a token ends at its `expires_at` or with its sandbox, whichever is
 * first, and a restart ends both. Looking a token up by its hash needs no
 * constant-time compare: the secret is never compared, only its digest used as a key.
 */
export class PreviewTokens {
  private readonly grants = new Map<string, PreviewGrant>();
  /** Hashes per sandbox, and the subscription that drops them when it is destroyed. */
  private readonly bySandbox = new Map<string, { hashes: Set<string>; stop: () => void }>();

  constructor(private readonly events: SandboxEvents) {}

  /** A new token for `sandboxId`, valid until `expiresAt` (ms) or the sandbox's end. */
  issue(sandboxId: string, port: number | null, expiresAt: number): { token: string; grant: PreviewGrant } {
    let entry = this.bySandbox.get(sandboxId);
    if (entry) this.prune(entry.hashes);
    if (entry && entry.hashes.size >= MAX_PREVIEW_TOKENS) {
      throw new PaddockError('quota_exceeded', `sandbox ${sandboxId} has ${MAX_PREVIEW_TOKENS} live preview tokens already`, {
        quota: 'preview_tokens',
        limit: MAX_PREVIEW_TOKENS,
      });
    }
    if (!entry) {
      const followed = this.events.follow(sandboxId, Number.MAX_SAFE_INTEGER, (e) => {
        if (e.type === 'destroyed') this.drop(sandboxId);
      });
      if (followed.ended) {
        followed.stop();
        throw new PaddockError('conflict', `sandbox ${sandboxId} is destroyed`, { state: 'destroyed' });
      }
      entry = { hashes: new Set(), stop: followed.stop };
      this.bySandbox.set(sandboxId, entry);
    }
    const token = `pdkp_${randomBytes(32).toString('base64url')}`;
    const grant: PreviewGrant = { sandboxId, port, expiresAt };
    const h = hash(token);
    this.grants.set(h, grant);
    entry.hashes.add(h);
    return { token, grant };
  }

  /** The first of `presented` that is a live token for this sandbox and port. */
  check(presented: Iterable<string>, sandboxId: string, port: number, now = Date.now()): PreviewGrant | undefined {
    for (const token of presented) {
      if (!TOKEN_RE.test(token)) continue;
      const grant = this.grants.get(hash(token));
      if (!grant || grant.sandboxId !== sandboxId || (grant.port !== null && grant.port !== port)) continue;
      if (now < grant.expiresAt) return grant;
    }
    return undefined;
  }

  /** Forgets every token of a sandbox (it was destroyed). */
  drop(sandboxId: string): void {
    const entry = this.bySandbox.get(sandboxId);
    if (!entry) return;
    entry.stop();
    for (const h of entry.hashes) this.grants.delete(h);
    this.bySandbox.delete(sandboxId);
  }

  /** How many tokens are held (tests: none are left once their sandboxes are gone). */
  get size(): number {
    return this.grants.size;
  }

  private prune(hashes: Set<string>, now = Date.now()): void {
    for (const h of hashes) {
      const grant = this.grants.get(h);
      if (!grant || grant.expiresAt <= now) {
        this.grants.delete(h);
        hashes.delete(h);
      }
    }
  }
}
