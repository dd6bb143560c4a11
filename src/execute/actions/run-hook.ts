/**
 * Runs an operator's hook command for an action: an argv list started without a shell (no
 * quoting or expansion surprises), an environment built only from an allowlist, a timeout that
 * kills the process (SIGTERM, then SIGKILL after a grace), and stdout/stderr captured up to a
 * bound so they can go into the job's detail as evidence.
 */
import { spawn } from 'node:child_process';

/** How to run a hook. */
export interface HookRequest {
  /** argv[0] is the program (looked up on PATH when it has no slash), the rest its arguments. */
  readonly argv: readonly string[];
  /** The complete environment of the process: nothing else is inherited. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Bytes kept per stream (default 4096); the rest is counted and dropped. */
  readonly maxOutputBytes?: number;
  /** Between SIGTERM and SIGKILL after a timeout or abort (default 2000 ms). */
  readonly killGraceMs?: number;
}

/** How a hook ended. */
export interface HookResult {
  /** Exit code, null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly durationMs: number;
  /** Captured output (UTF-8, at most maxOutputBytes each, with a note when truncated). */
  readonly stdout: string;
  readonly stderr: string;
}

/** The program could not be started at all (not found, not executable): no retry fixes that. */
export class HookStartError extends Error {
  override readonly name = 'HookStartError';
}

/** Collects a stream's first `max` bytes and counts the rest. */
class Capture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.kept >= this.max) return;
    const part = chunk.subarray(0, this.max - this.kept);
    this.chunks.push(part);
    this.kept += part.length;
  }

  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.total > this.kept ? `${s}… [truncated: ${this.total} bytes in all]` : s;
  }
}

/**
 * Runs the hook to its end and resolves how it ended (a non-zero exit resolves too: the caller
 * decides). Rejects with HookStartError when the program cannot be started.
 */
export function runHook(req: HookRequest): Promise<HookResult> {
  const [program, ...args] = req.argv;
  if (program === undefined || program === '') return Promise.reject(new HookStartError('hook: empty command'));
  const max = req.maxOutputBytes ?? 4_096;
  const started = performance.now();
  return new Promise<HookResult>((resolve, reject) => {
    // Its own process group, so a timeout also kills whatever the hook started (a script's children).
    const child = spawn(program, args, {
      env: { ...req.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
      detached: process.platform !== 'win32',
    });
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    const out = new Capture(max);
    const err = new Capture(max);
    child.stdout.on('data', (c: Buffer) => {
      out.add(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err.add(c);
    });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      kill('SIGTERM');
      killTimer = setTimeout(() => {
        kill('SIGKILL');
      }, req.killGraceMs ?? 2_000);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, req.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      req.signal.removeEventListener('abort', onAbort);
    };
    child.once('error', (e) => {
      cleanup();
      reject(new HookStartError(`hook ${program} could not be started: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      cleanup();
      resolve({
        exitCode: code,
        signal,
        timedOut,
        aborted,
        durationMs: Math.round(performance.now() - started),
        stdout: out.text(),
        stderr: err.text(),
      });
    });
  });
}

/** One line of evidence: how the hook ended and what it printed. */
export function describeHook(argv: readonly string[], r: HookResult): string {
  const how = r.timedOut
    ? `timed out after ${r.durationMs} ms and was killed`
    : r.aborted
      ? 'was aborted and killed'
      : r.exitCode !== null
        ? `exited ${r.exitCode} after ${r.durationMs} ms`
        : `was killed by ${r.signal ?? 'a signal'}`;
  const stream = (name: string, text: string): string => (text.trim() === '' ? '' : `; ${name}: ${JSON.stringify(text.trim())}`);
  return `hook ${JSON.stringify(argv)} ${how}${stream('stdout', r.stdout)}${stream('stderr', r.stderr)}`;
}
