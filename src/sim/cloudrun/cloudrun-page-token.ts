import { digest } from './cloudrun-service-status.js';
import { invalidArgument } from './cloudrun-status-error.js';

/** An opaque ListServices page token: the offset of the next page, bound to the parent it was issued for. */
export function encodePageToken(parent: string, offset: number): string {
  return Buffer.from(JSON.stringify({ p: digest(parent).slice(0, 12), o: offset })).toString('base64url');
}

/** The offset in a token issued by encodePageToken for `parent`; INVALID_ARGUMENT for anything else. */
export function decodePageToken(parent: string, token: string): number {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { p?: unknown; o?: unknown };
    if (v.p === digest(parent).slice(0, 12) && typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= 0) return v.o;
  } catch {
    // fall through: not a token this fake issued
  }
  throw invalidArgument(`invalid page_token "${token}" for parent "${parent}"`);
}
