/** What an image build is doing; the CLI prints these so minutes of work are not silent. */
export type BuildPhase =
  | 'wait'
  | 'cached'
  | 'bootstrap'
  | 'copy'
  | 'apt'
  | 'steps'
  | 'cleanup'
  | 'install'
  | 'docker'
  | 'done';

export interface BuildProgress {
  image: string;
  phase: BuildPhase;
  message: string;
  /** Since this image's build started. */
  elapsedMs: number;
}

export type ProgressFn = (p: BuildProgress) => void;

/** Progress for one image: binds its name and start time. */
export type Reporter = (phase: BuildPhase, message: string) => void;

export function reporterFor(image: string, onProgress: ProgressFn | undefined): Reporter {
  const start = Date.now();
  return (phase, message) => {
    // A listener that throws must not fail a build that is otherwise fine.
    try {
      onProgress?.({ image, phase, message, elapsedMs: Date.now() - start });
    } catch {
      // ignored
    }
  };
}
