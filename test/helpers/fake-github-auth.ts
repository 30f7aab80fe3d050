import { generateKeyPairSync, type KeyObject, randomBytes, verify } from 'node:crypto';

/**
 * Credentials of the fake GitHub: personal tokens, a GitHub App (RSA key pair; JWTs verified with
 * its public key as GitHub does) and the installation tokens it mints, which expire.
 */

export interface FakeApp {
  id: number;
  slug: string;
  /** PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`), the format GitHub hands out. */
  privateKey: string;
  publicKey: KeyObject;
  /** installation id → account (owner login) it is installed on. */
  installations: Map<number, string>;
  tokenTtlMs: number;
}

export type Identity =
  | { kind: 'none' }
  | { kind: 'bad'; message: string; status: 401 }
  | { kind: 'token'; login: string }
  | { kind: 'installation'; installationId: number; login: string }
  | { kind: 'jwt'; appId: number };

export function makeApp(opts: { id?: number; slug?: string; installations?: Record<number, string>; tokenTtlMs?: number }): FakeApp {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    id: opts.id ?? 4242,
    slug: opts.slug ?? 'paddock-test',
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey,
    installations: new Map(Object.entries(opts.installations ?? {}).map(([k, v]) => [Number(k), v])),
    tokenTtlMs: opts.tokenTtlMs ?? 3600_000,
  };
}

export class FakeCredentials {
  /** Installation tokens minted so far, newest last. */
  readonly minted: Array<{ token: string; installationId: number; expiresAt: number }> = [];

  constructor(
    readonly tokens: Map<string, string>,
    readonly app: FakeApp | undefined,
  ) {}

  mint(installationId: number): { token: string; expires_at: string } {
    const ttl = this.app!.tokenTtlMs;
    const token = `ghs_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
    const expiresAt = Date.now() + ttl;
    this.minted.push({ token, installationId, expiresAt });
    return { token, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }

  /** Who a request is, from `Authorization: token|bearer X` (the API) or `Basic` (git). */
  identify(header: string | undefined): Identity {
    if (!header) return { kind: 'none' };
    const m = /^(token|bearer|basic)\s+(\S+)$/i.exec(header.trim());
    if (!m) return bad();
    const scheme = m[1]!.toLowerCase();
    let secret = m[2]!;
    if (scheme === 'basic') {
      const decoded = Buffer.from(secret, 'base64').toString('utf8');
      secret = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (secret.split('.').length === 3 && scheme === 'bearer') return this.verifyJwt(secret);
    const login = this.tokens.get(secret);
    if (login !== undefined) return { kind: 'token', login };
    const inst = this.minted.find((t) => t.token === secret);
    if (inst && inst.expiresAt > Date.now()) return { kind: 'installation', installationId: inst.installationId, login: `${this.app!.slug}[bot]` };
    return bad();
  }

  private verifyJwt(jwt: string): Identity {
    const app = this.app;
    if (!app) return bad('A JSON web token could not be decoded');
    const [h, p, s] = jwt.split('.') as [string, string, string];
    let header: { alg?: unknown };
    let payload: { iss?: unknown; iat?: unknown; exp?: unknown };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return bad('A JSON web token could not be decoded');
    }
    if (header.alg !== 'RS256') return bad('A JSON web token could not be decoded');
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), app.publicKey, Buffer.from(s, 'base64url'))) {
      return bad("'Issuer' claim ('iss') must be an Integer, or the signature does not match the app's key");
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || payload.iat > now + 60) {
      return bad("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.");
    }
    if (typeof payload.exp !== 'number' || payload.exp <= now) return bad("'Expiration time' claim ('exp') is in the past");
    if (payload.exp - payload.iat > 660) return bad("'Expiration time' claim ('exp') is too far in the future");
    if (String(payload.iss) !== String(app.id)) return bad('Integration not found');
    return { kind: 'jwt', appId: app.id };
  }
}

function bad(message = 'Bad credentials'): Identity {
  return { kind: 'bad', message, status: 401 };
}
