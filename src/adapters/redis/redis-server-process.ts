import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../../support/abortable-sleep.js';

/**
 * Starts a throwaway `redis-server` on a free loopback port: no persistence, `noeviction`
 * (BullMQ requires it), its own temp `--dir`. Used by `spire-healer demo/simulate` when no
 * REDIS_URL is given, and by every Redis test (test/support/redis.ts).
 */

/** `redis-server` could not be found (not installed, or `bin` points nowhere). */
export class RedisServerMissingError extends Error {
  /** `bin` is the executable that was tried. */
  constructor(readonly bin: string) {
    super(`redis-server not found (tried "${bin}"): install it (apt-get install -y redis-server) or set REDIS_URL to an existing Redis`);
    this.name = 'RedisServerMissingError';
  }
}

/** A running throwaway Redis. `stop()` kills it, waits for exit and removes its temp dir; calling it twice is fine. */
export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Options of startRedisServer. */
export interface StartRedisServerOptions {
  /** Executable to run; default `redis-server` from PATH. */
  readonly bin?: string;
  /** How long to wait for the server to answer, per attempt; default 10 s. */
  readonly readyTimeoutMs?: number;
  /** This port instead of a free one (e.g. to start a stopped server again where its clients reconnect). */
  readonly port?: number;
  /**
   * Persist with an append-only file in `dir` (kept by stop(), so a server started again on the
   * same dir reloads it). Default: no persistence in a temp dir removed by stop().
   */
  readonly appendOnlyDir?: string;
}

const PORT_ATTEMPTS = 5;
const OUTPUT_TAIL_CHARS = 4_000;

/** Starts redis-server on a free port and resolves once it answers; rejects with RedisServerMissingError if absent. */
export async function startRedisServer(opts: StartRedisServerOptions = {}): Promise<RedisServerHandle> {
  const bin = opts.bin ?? 'redis-server';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  if (opts.port !== undefined) return startOnPort(bin, opts.port, readyTimeoutMs, opts.appendOnlyDir);
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await findFreePort();
    try {
      return await startOnPort(bin, port, readyTimeoutMs, opts.appendOnlyDir);
    } catch (e) {
      if (e instanceof PortTakenError) {
        lastError = e;
        continue;
      }
      throw e;
    }
  }
  throw lastError ?? new Error('redis-server: no free port found');
}

/** The port was taken between probing and redis-server binding it (a race with another process). */
class PortTakenError extends Error {}

/** Binds 127.0.0.1:0, reads the port the kernel chose and releases it. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        if (port > 0) resolve(port);
        else reject(new Error('could not read a free port'));
      });
    });
  });
}

async function startOnPort(bin: string, port: number, readyTimeoutMs: number, appendOnlyDir?: string): Promise<RedisServerHandle> {
  const dir = appendOnlyDir ?? mkdtempSync(join(tmpdir(), 'spire-healer-redis-'));
  const logFile = join(dir, 'redis.log');
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    appendOnlyDir === undefined ? 'no' : 'yes',
    '--maxmemory-policy',
    'noeviction',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    logFile,
  ];
  // Logs go to a file, not a pipe: a pipe nobody drains could block the server, and would keep our event loop alive.
  const child = spawn(bin, args, { stdio: 'ignore' });
  const logTail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-OUTPUT_TAIL_CHARS);
    } catch {
      return '';
    }
  };
  const exited = new Promise<{ code: number | null; spawnError: NodeJS.ErrnoException | null }>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      resolve({ code: null, spawnError: err });
    });
    child.once('exit', (code) => {
      resolve({ code, spawnError: null });
    });
  });
  // If the test process dies without calling stop(), do not leave a redis-server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const cleanup = (): void => {
    process.removeListener('exit', killOnExit);
    if (appendOnlyDir === undefined) rmSync(dir, { recursive: true, force: true });
  };

  const gaveUp = { value: false };
  const ready = await Promise.race([
    waitForOwnServer(port, child.pid ?? -1, readyTimeoutMs, gaveUp).then((ok) => ({
      kind: ok ? ('ready' as const) : ('timeout' as const),
    })),
    exited.then((x) => ({ kind: 'exited' as const, ...x })),
  ]);
  gaveUp.value = true;
  if (ready.kind !== 'ready') {
    child.kill('SIGKILL');
    const end = await exited;
    const output = logTail();
    cleanup();
    if (end.spawnError?.code === 'ENOENT') throw new RedisServerMissingError(bin);
    if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} already in use`);
    const why = ready.kind === 'timeout' ? `did not answer within ${readyTimeoutMs}ms` : `exited with code ${String(end.code)}`;
    throw new Error(`redis-server on port ${port} ${why}: ${end.spawnError?.message ?? output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  // Keep the daemon's event loop free to exit; stop() is the normal path.
  child.unref();

  let stopping: Promise<void> | null = null;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => {
      stopping ??= stopChild(child, exited).finally(cleanup);
      return stopping;
    },
  };
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  // This (ref'd) timer also keeps the event loop alive until the unref'd child reports its exit.
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, 5_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls until the Redis on `port` answers and is our child (INFO's process_id is checked, so a
 * Redis that grabbed the port first is never mistaken for ours); true when it answered in time.
 */
async function waitForOwnServer(port: number, pid: number, timeoutMs: number, gaveUp: { readonly value: boolean }): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gaveUp.value) {
    if ((await serverPid(port, Math.max(50, Math.min(1_000, deadline - Date.now())))) === pid) return true;
    await sleep(25);
  }
  return false;
}

/** The process_id a Redis on `port` reports (raw RESP, no client library), or null if it does not answer. */
function serverPid(port: number, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (pid: number | null): void => {
      sock.destroy();
      resolve(pid);
    };
    sock.setTimeout(timeoutMs, () => {
      done(null);
    });
    sock.once('error', () => {
      done(null);
    });
    sock.once('connect', () => {
      sock.write('INFO server\r\n');
    });
    sock.on('data', (d) => {
      reply += d.toString('utf8');
      if (reply.startsWith('-')) {
        done(null);
        return;
      }
      const m = /process_id:(\d+)\r\n/.exec(reply);
      if (m !== null) done(Number(m[1]));
    });
  });
}
