/**
 * A CA bundle file (concatenated PEM CERTIFICATE blocks, as SPIRE's notifiers and sync_bundle
 * write it) as the bundle certificates an observation carries. Defects become problem sentences.
 */
import type { BundleCertificate } from '../knowledge/model/observation.js';
import { parsePemCertificates } from '../knowledge/pem-certificates.js';

/** The certificates of `text` (serials lower-case hex) and what is wrong with it; `where` names it in problems. */
export function parseBundlePem(text: string, where: string): { readonly certificates: BundleCertificate[]; readonly problems: string[] } {
  const { certificates, problems } = parsePemCertificates(text, where);
  return { certificates: certificates.map((c) => ({ serialNumber: c.serialHex, expiresAtMs: c.notAfterMs })), problems };
}
