/**
 * The fake server's spire.api.server.localauthority.v1.LocalAuthority, X.509 side, over a SimWorld:
 * GetX509AuthorityState, PrepareX509Authority, ActivateX509Authority, TaintX509Authority and
 * RevokeX509Authority, with SPIRE's checks and status codes (spire
 * pkg/server/api/localauthority/v1/service.go): authority ids are the CA certificate's SKID in
 * hex; SPIRE has one "next" slot, prepared or old; only the prepared one can be activated, only
 * the old one tainted, only the old tainted one revoked.
 */
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
// Side effect: reflect-metadata and the crypto provider @peculiar/x509 needs.
import '../certs.js';
import type { SimCa } from '../certs.js';
import type { SimWorld } from '../world.js';
import { statusError } from './grpc-endpoint.js';

const skids = new WeakMap<Uint8Array, string>();

/** Hex SKID of a CA certificate: SPIRE's authority_id (cached per certificate). */
export function subjectKeyIdHex(der: Uint8Array): string {
  const cached = skids.get(der);
  if (cached !== undefined) return cached;
  const ext = new x509.X509Certificate(der).getExtension(x509.SubjectKeyIdentifierExtension);
  if (ext === null) throw new Error('CA certificate has no subjectKeyIdentifier');
  const id = ext.keyId.toLowerCase();
  skids.set(der, id);
  return id;
}

/** A LocalAuthority AuthorityState for a CA, null for an empty slot. */
export function authoritySlot(ca: SimCa | null): object | null {
  if (ca === null) return null;
  return {
    authority_id: subjectKeyIdHex(ca.cert.der),
    expires_at: String(Math.floor(ca.cert.notAfterMs / 1_000)),
    upstream_authority_subject_key_id: '',
  };
}

type Unary = (call: grpc.ServerUnaryCall<{ authority_id?: string }, object>, cb: grpc.sendUnaryData<object>) => void;

/** Why SPIRE would refuse a request: [code, details], or null when it goes ahead. */
type Refusal = readonly [grpc.status, string] | null;

/** Handlers of the LocalAuthority service (X.509 RPCs only; the JWT ones answer UNIMPLEMENTED). */
export function localAuthorityHandlers(world: SimWorld): Record<string, Unary> {
  const id = (ca: SimCa | null): string | null => (ca === null ? null : subjectKeyIdHex(ca.cert.der));
  /** SPIRE's "next" slot: the prepared authority, else the old one. */
  const next = (): { ca: SimCa; prepared: boolean } | null => {
    const s = world.authorityState();
    if (s.prepared !== null) return { ca: s.prepared, prepared: true };
    return s.old === null ? null : { ca: s.old, prepared: false };
  };
  const answer = (cb: grpc.sendUnaryData<object>, refusal: Refusal, go: () => void): void => {
    if (refusal === null) go();
    else cb(statusError(refusal[0], refusal[1]));
  };
  const I = grpc.status.INVALID_ARGUMENT;
  const activateRefusal = (want: string): Refusal => {
    const n = next();
    if (want === '') return [I, 'no authority ID provided'];
    if (n === null || want !== id(n.ca)) return [I, 'unexpected authority ID'];
    return n.prepared ? null : [grpc.status.INTERNAL, 'only Prepared authorities can be activated'];
  };
  const taintRefusal = (want: string): Refusal => {
    const n = next();
    if (want === '') return [I, 'no authority ID provided'];
    if (want === id(world.authorityState().active)) return [I, 'unable to taint current local authority'];
    if (n === null || want !== id(n.ca)) return [I, 'unexpected authority ID'];
    if (n.prepared) return [I, 'only Old local authorities can be tainted'];
    return world.isAuthorityTainted(n.ca.cert)
      ? [grpc.status.INTERNAL, 'failed to taint X.509 authority: root CA is already tainted']
      : null;
  };
  const revokeRefusal = (want: string): Refusal => {
    const n = next();
    if (want === '') return [I, 'invalid authority ID: no authority ID provided'];
    if (want === id(world.authorityState().active)) return [I, 'invalid authority ID: unable to use current authority'];
    if (n === null || n.prepared || want !== id(n.ca)) return [I, 'invalid authority ID: only Old local authority can be revoked'];
    if (!world.trustBundle().certs.some((c) => c.serialHex === n.ca.cert.serialHex)) {
      return [grpc.status.INTERNAL, 'failed to revoke X.509 authority: no root CA found with provided subject key ID'];
    }
    return world.isAuthorityTainted(n.ca.cert)
      ? null
      : [grpc.status.INTERNAL, 'failed to revoke X.509 authority: it is not possible to revoke an untainted root CA'];
  };
  return {
    GetX509AuthorityState: (_call, cb) => {
      const s = world.authorityState();
      cb(null, { active: authoritySlot(s.active), prepared: authoritySlot(s.prepared), old: authoritySlot(s.old) });
    },
    PrepareX509Authority: (_call, cb) => {
      world.prepareAuthority().then(
        (ca) => {
          cb(null, { prepared_authority: authoritySlot(ca) });
        },
        (e: unknown) => {
          cb(statusError(grpc.status.INTERNAL, `failed to prepare X.509 authority: ${String(e)}`));
        },
      );
    },
    ActivateX509Authority: (call, cb) => {
      answer(cb, activateRefusal(call.request.authority_id ?? ''), () => {
        cb(null, { activated_authority: authoritySlot(world.activateAuthority()) });
      });
    },
    TaintX509Authority: (call, cb) => {
      answer(cb, taintRefusal(call.request.authority_id ?? ''), () => {
        const tainted = world.authorityState().old;
        world.taintAuthority().then(
          () => {
            cb(null, { tainted_authority: authoritySlot(tainted) });
          },
          (e: unknown) => {
            cb(statusError(grpc.status.INTERNAL, `failed to taint X.509 authority: ${String(e)}`));
          },
        );
      });
    },
    RevokeX509Authority: (call, cb) => {
      const want = call.request.authority_id ?? '';
      answer(cb, revokeRefusal(want), () => {
        world.revokeAuthority();
        cb(null, { revoked_authority: { authority_id: want, expires_at: '0', upstream_authority_subject_key_id: '' } });
      });
    },
  };
}
