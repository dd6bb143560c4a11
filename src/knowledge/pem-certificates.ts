/**
 * Parses a CA bundle in PEM (concatenated CERTIFICATE blocks, as SPIRE's k8sbundle notifier and
 * sync_bundle write it) into plain data. Pure (node:crypto parses, nothing is read or written);
 * shared by the ConfigMap adapter and the Cloud Run secret monitor. Defects become problem
 * sentences naming `where`, never exceptions.
 */
import { X509Certificate } from 'node:crypto';
import { errorMessage } from './error-text.js';
import { normalizeSerial } from './serial-number.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** One certificate of a PEM bundle. */
export interface PemCertificate {
  /** SHA-256 of the DER, lowercase hex without separators. */
  readonly sha256: string;
  /** Normalised (serial-number.ts). */
  readonly serialHex: string;
  readonly subject: string;
  readonly notAfterMs: number;
  readonly isCa: boolean;
}

/** The certificates of `text` and what is wrong with it. */
export function parsePemCertificates(
  text: string,
  where: string,
): { readonly certificates: PemCertificate[]; readonly problems: string[] } {
  const certificates: PemCertificate[] = [];
  const problems: string[] = [];
  let index = 0;
  for (const m of text.matchAll(PEM_BLOCK)) {
    index += 1;
    if (m[1] !== 'CERTIFICATE') {
      problems.push(`${where}: PEM block #${index} is "${m[1] ?? ''}", not CERTIFICATE`);
      continue;
    }
    try {
      const cert = new X509Certificate(Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64'));
      certificates.push({
        sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
        serialHex: normalizeSerial(cert.serialNumber),
        subject: cert.subject.replaceAll('\n', ', '),
        notAfterMs: Date.parse(cert.validTo),
        isCa: cert.ca,
      });
    } catch (e: unknown) {
      problems.push(`${where}: certificate #${index} is not valid X.509 (${errorMessage(e)})`);
    }
  }
  const stray = text.replace(PEM_BLOCK, '').trim();
  if (index === 0) problems.push(`${where}: no PEM CERTIFICATE block found${stray === '' ? ' (empty)' : ''}`);
  else if (stray !== '') problems.push(`${where}: unexpected text outside PEM blocks (${JSON.stringify(stray.slice(0, 40))})`);
  return { certificates, problems };
}
