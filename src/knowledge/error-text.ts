/**
 * The text of anything thrown or rejected: an Error's message, anything else as String(x).
 * The one spelling of `e instanceof Error ? e.message : String(e)`, for log fields, observations
 * and sentences that name why something failed.
 */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `e` itself when it is an Error, else an Error carrying its text (for rejecting with what was thrown). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
