import semver from 'semver';
import type { LanguageHealth } from '../../../judge/health.js';
import { type Language, LANGUAGES } from '../../../judge/languages.js';

/** One entry of `GET /api/v2/runtimes`, as Piston lists its installed packages. */
export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
}

/**
 * A language's version as a SemVer (Piston's selectors are semver ranges): read from what the
 * language itself printed at its last smoke test ("Python 3.11.2", "v18.20.4", `openjdk version
 * "17.0.19"`, "5.2.15(1)-release"). Null until a smoke test has run.
 */
export function semverOf(printed: string | null): string | null {
  if (!printed) return null;
  return semver.coerce(printed)?.version ?? null;
}

/** Languages that passed their smoke test, with the versions they printed; the others are not installed, to Piston. */
export function pistonRuntimes(health: Pick<LanguageHealth, 'list'>, languages: readonly Language[] = LANGUAGES): PistonRuntime[] {
  const status = new Map(health.list().map((s) => [s.id, s]));
  const out: PistonRuntime[] = [];
  for (const l of languages) {
    const s = status.get(l.id);
    const version = s?.healthy ? semverOf(s.version) : null;
    if (version) out.push({ language: l.piston.name, version, aliases: [...l.piston.aliases] });
  }
  return out;
}

/** The language a Piston request names, by its Piston name or an alias, exactly as Piston matches (case counts). */
export function pistonLanguage(name: string, languages: readonly Language[] = LANGUAGES): Language | undefined {
  return languages.find((l) => l.piston.name === name || l.piston.aliases.includes(name));
}

/** Whether `version` satisfies a Piston selector ("3.11.2", "3.x", "*", "^18", ">=17 <18"); a selector that is no range matches nothing. */
export function versionMatches(version: string, selector: string): boolean {
  return semver.validRange(selector) !== null && semver.satisfies(version, selector);
}
