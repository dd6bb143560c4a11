/**
 * SPIFFE endpoint addresses (SPIFFE_Workload_Endpoint §4): `unix:///abs/path` (no authority) or
 * `tcp://IP:port` (IP literal; no path, query or fragment). grpc-js takes `unix:///abs/path`
 * as is and `IP:port` for TCP.
 */
import { isIP } from 'node:net';

/** The environment variable conforming clients fall back to. */
export const SPIFFE_ENDPOINT_SOCKET = 'SPIFFE_ENDPOINT_SOCKET';

/** An endpoint that is not a valid SPIFFE endpoint URI. */
export class BadEndpointError extends Error {
  override readonly name = 'BadEndpointError';
}

/** Validates a SPIFFE endpoint URI and returns the grpc-js target for it. */
export function grpcTargetOf(endpoint: string): string {
  if (endpoint.startsWith('unix:')) {
    if (!endpoint.startsWith('unix:///'))
      throw new BadEndpointError(`${endpoint}: unix endpoint must be unix:///absolute/path (no authority)`);
    if (/[?#]/.test(endpoint)) throw new BadEndpointError(`${endpoint}: unix endpoint must not have a query or fragment`);
    return endpoint;
  }
  if (endpoint.startsWith('tcp://')) {
    const rest = endpoint.slice('tcp://'.length);
    const m = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})$/.exec(rest);
    const host = m?.[1];
    const port = Number(m?.[2]);
    const bare = host?.replace(/^\[|\]$/g, '') ?? '';
    if (host === undefined || isIP(bare) === 0 || !(port > 0 && port < 65536)) {
      throw new BadEndpointError(`${endpoint}: tcp endpoint must be tcp://IP:port with an IP literal and no path`);
    }
    return isIP(bare) === 6 ? `[${bare}]:${port}` : `${bare}:${port}`;
  }
  throw new BadEndpointError(`${endpoint}: expected unix:///path or tcp://IP:port`);
}

/** The Workload API endpoint: the explicit one, else $SPIFFE_ENDPOINT_SOCKET; throws when neither is set. */
export function workloadEndpoint(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const value = explicit ?? env[SPIFFE_ENDPOINT_SOCKET];
  if (value === undefined || value === '')
    throw new BadEndpointError(`no Workload API endpoint given and ${SPIFFE_ENDPOINT_SOCKET} is not set`);
  return value;
}
