/**
 * Parses a CA bundle file (concatenated PEM CERTIFICATE blocks, as SPIRE's notifiers and
 * sync_bundle write it) into bundle certificates, as the ConfigMap path does
 * (adapters/kubernetes/trust-bundle.ts). Defects become problem sentences, never throws.
 */
import { X509Certificate } from 'node:crypto';
import type { BundleCertificate } from '../knowledge/model/observation.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** The certificates of `text` (serials lower-case hex) and what is wrong with it; `where` names it in problems. */
export function parseBundlePem(text: string, where: string): { readonly certificates: BundleCertificate[]; readonly problems: string[] } {
  const certificates: BundleCertificate[] = [];
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
      certificates.push({ serialNumber: cert.serialNumber.toLowerCase(), expiresAtMs: Date.parse(cert.validTo) });
    } catch (e: unknown) {
      problems.push(`${where}: certificate #${index} is not valid X.509 (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const stray = text.replace(PEM_BLOCK, '').trim();
  if (index === 0) problems.push(`${where}: no PEM CERTIFICATE block found${stray === '' ? ' (empty)' : ''}`);
  else if (stray !== '') problems.push(`${where}: unexpected text outside PEM blocks (${JSON.stringify(stray.slice(0, 40))})`);
  return { certificates, problems };
}
