import { PaddockError, toPaddockError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { type Language, LANGUAGES } from './languages.js';

export interface LanguageStatus {
  id: string;
  name: string;
  version: string | null;
  /** null until its first smoke test has run. */
  healthy: boolean | null;
  checked_at: string | null;
  /** Why the smoke test failed (the verdict and what the program or compiler said, bounded). */
  error?: string;
}

/** Runs a language's smoke program; resolves with its version, throws when the verdict is not `accepted`. */
export type SmokeProbe = (lang: Language) => Promise<{ version: string }>;

/**
 * Judge languages that are known to work. Each one's smoke program runs at start and then every
 * `intervalMs`; a language whose smoke test failed is refused (`503 language_unhealthy`) rather than
 * left to give wrong verdicts, until a later smoke test passes. Not yet checked is not refused.
 */
export class LanguageHealth {
  private readonly status = new Map<string, LanguageStatus>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly probe: SmokeProbe,
    private readonly log: Logger,
    private readonly languages: readonly Language[] = LANGUAGES,
  ) {
    for (const l of languages) this.status.set(l.id, { id: l.id, name: l.name, version: null, healthy: null, checked_at: null });
  }

  start(intervalMs: number): void {
    void this.checkAll();
    if (intervalMs > 0) {
      this.timer = setInterval(() => void this.checkAll(), intervalMs);
      this.timer.unref();
    }
  }

  /** One round of smoke tests, one language after another (never two rounds at once). */
  checkAll(): Promise<void> {
    this.running ??= (async () => {
      for (const l of this.languages) {
        if (this.stopped) return;
        await this.checkOne(l);
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkOne(l: Language): Promise<void> {
    const was = this.status.get(l.id)!;
    const at = new Date().toISOString();
    try {
      const { version } = await this.probe(l);
      this.status.set(l.id, { id: l.id, name: l.name, version, healthy: true, checked_at: at });
      if (was.healthy === false) this.log.info({ language: l.id }, 'judge language passes its smoke test again');
    } catch (err) {
      if (this.stopped) return;
      const e = toPaddockError(err);
      const error = `${e.code}: ${e.message}`.slice(0, 1000);
      this.status.set(l.id, { ...was, healthy: false, checked_at: at, error });
      this.log.error({ language: l.id, error }, 'judge language failed its smoke test; submissions in it are refused');
    }
  }

  /** Throws `language_unhealthy` for a language whose last smoke test failed. */
  check(id: string): void {
    const s = this.status.get(id);
    if (s?.healthy === false) {
      throw new PaddockError('language_unhealthy', `judge language ${id} failed its smoke test (${s.error ?? 'no detail'}); try again later`, {
        language: id,
      });
    }
  }

  version(id: string): string | null {
    return this.status.get(id)?.version ?? null;
  }

  list(): LanguageStatus[] {
    return [...this.status.values()];
  }

  /** For /health: one line per unhealthy language. */
  problems(): string[] {
    return this.list()
      .filter((s) => s.healthy === false)
      .map((s) => `judge_language_unhealthy: ${s.id}: ${s.error ?? ''}`);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}
