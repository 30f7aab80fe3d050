import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { PaddockError } from '../errors.js';
import { type Config, ConfigSchema, finishConfig, SECRET_KEYS } from './schema.js';

type Tree = { [key: string]: unknown };

export interface ConfigSources {
  /** Path given by `--config`; otherwise PADDOCK_CONFIG, otherwise ./paddock.toml if present. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** CLI flags, already shaped like the config (e.g. `{ port: 8080 }`). */
  flags?: Tree;
}

/**
 * Resolves the config once: defaults < paddock.toml < PADDOCK_* env < flags.
 * A bad value fails with `config_invalid`, naming the key and where it came from.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const origin = new Map<string, string>();
  const merged: Tree = {};

  const file = sources.file ?? env.PADDOCK_CONFIG ?? (existsSync('paddock.toml') ? 'paddock.toml' : undefined);
  if (file) merge(merged, readConfigFile(file), origin, file, '');
  merge(merged, wellKnownEnv(env), origin, 'env', '');
  merge(merged, envTree(env), origin, 'env', '');
  if (sources.flags) merge(merged, dropUndefined(sources.flags), origin, 'flag', '');

  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = 'keys' in issue && Array.isArray(issue.keys) ? issue.keys.map(String) : [];
    const key = [...issue.path.map(String), ...keys.slice(0, 1)].join('.') || '(root)';
    const from = origin.get(key) ?? originOfPrefix(origin, key);
    const where = from === 'env' ? ` (from ${envName(key)})` : from ? ` (from ${from})` : '';
    throw new PaddockError('config_invalid', `config key ${key}: ${issue.message}${where}`, { key });
  }
  return finishConfig(parsed.data);
}

function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PaddockError('config_invalid', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseToml(text) as Tree;
  } catch (err) {
    throw new PaddockError('config_invalid', `config file ${file} is not valid TOML: ${(err as Error).message}`);
  }
}

/**
 * The variables the model and GitHub tools themselves read, as fallbacks below PADDOCK_*:
 * a runner started with ANTHROPIC_API_KEY set proxies with that key.
 */
function wellKnownEnv(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  const set = (section: string, sub: string | null, key: string, value: string | undefined) => {
    if (!value) return;
    const s = (tree[section] ??= {}) as Tree;
    ((sub ? (s[sub] ??= {}) : s) as Tree)[key] = value;
  };
  set('agents', 'model_api', 'base_url', env.ANTHROPIC_BASE_URL);
  set('agents', 'model_api', 'api_key', env.ANTHROPIC_API_KEY);
  set('github', null, 'token', env.GITHUB_TOKEN);
  return tree;
}

/** PADDOCK_LIMITS__DEFAULT__TIMEOUT_MS=5000 → { limits: { default: { timeout_ms: 5000 } } }. */
function envTree(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('PADDOCK_') || raw === undefined || name === 'PADDOCK_CONFIG') continue;
    // Client-side variables used by `paddock run` and friends, not server config.
    if (name === 'PADDOCK_URL' || name === 'PADDOCK_TOKEN') continue;
    const keys = name.slice('PADDOCK_'.length).toLowerCase().split('__');
    let node = tree;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Tree;
    node[keys.at(-1)!] = coerce(raw);
  }
  return tree;
}

export function envName(key: string): string {
  return `PADDOCK_${key.split('.').join('__').toUpperCase()}`;
}

function coerce(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

function merge(into: Tree, from: Tree, origin: Map<string, string>, label: string, prefix: string): void {
  for (const [k, v] of Object.entries(from)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isTree(v)) {
      const target = isTree(into[k]) ? (into[k] as Tree) : (into[k] = {});
      merge(target as Tree, v, origin, label, key);
    } else {
      into[k] = v;
      origin.set(key, label);
    }
  }
}

function originOfPrefix(origin: Map<string, string>, key: string): string | undefined {
  for (const [k, v] of origin) if (k.startsWith(`${key}.`) || key.startsWith(`${k}.`)) return v;
  return undefined;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dropUndefined(tree: Tree): Tree {
  return Object.fromEntries(Object.entries(tree).filter(([, v]) => v !== undefined));
}

/** The effective config with secrets replaced, for `paddock config print`. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out = structuredClone(config) as unknown as Tree;
  for (const key of SECRET_KEYS) {
    const parts = key.split('.');
    const parent = parts.slice(0, -1).reduce<Tree | undefined>((t, k) => (isTree(t?.[k]) ? (t![k] as Tree) : undefined), out);
    const last = parts.at(-1)!;
    const value = parent?.[last];
    if (typeof value !== 'string' || value === '') continue;
    parent![last] = key === 'store_url' ? redactUrl(value) : '[REDACTED]';
  }
  return out;
}

/** Keeps a URL's shape but hides its password: postgres://u:***@h/db. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}
