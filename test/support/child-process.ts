/** Test processes that print "ready" once started (test/support/*.process.ts), and polling for a condition. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A started child process. */
export interface ReadyProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/**
 * Runs `node --import tsx <script> <opts as JSON>` and resolves once it writes "ready" on stdout;
 * rejects with its stderr if it exits first or is not ready within `readyMs`.
 */
export async function startReadyProcess(script: string, opts: unknown, what: string, readyMs = 30_000): Promise<ReadyProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${what} not ready within ${String(readyMs)} ms:\n${err}`));
    }, readyMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited before it was ready (${String(e.code ?? e.signal)}):\n${err}`));
    });
  });
  return { child, exited, stderr: () => err };
}

/** Polls `probe` every 50 ms until it returns a value (not null, undefined or false); `diag` adds context to the timeout error. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 30_000,
  diag: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${diag()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
