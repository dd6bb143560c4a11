/**
 * Runs `fn` and stops waiting for it when `signal` aborts, rejecting with `abortError()` then.
 * For SDK calls that take no AbortSignal of their own (google-gax): the call itself goes on in the
 * background, but the caller is released at once; its late outcome is handled (Promise.race), so
 * it can never surface as an unhandled rejection. A signal aborted already rejects without
 * starting `fn`. Without a signal it is just `fn()`.
 */
export async function untilAborted<T>(fn: () => Promise<T>, signal: AbortSignal | undefined, abortError: () => Error): Promise<T> {
  if (signal === undefined) return fn();
  if (signal.aborted) throw abortError();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      reject(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([fn(), aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
