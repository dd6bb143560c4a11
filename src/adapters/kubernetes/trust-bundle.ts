/**
 * Parses the SPIRE trust-bundle ConfigMap (k8sbundle notifier: key "bundle.crt", concatenated
 * PEM CERTIFICATE blocks) into plain data. Defects become problem sentences, never throws.
 */
import { X509Certificate } from 'node:crypto';
import type { KubeBundleCertificate, KubeTrustBundle } from '../../ports/kubernetes.port.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** What the parser needs of the ConfigMap. */
export interface BundleConfigMap {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  readonly data: Readonly<Record<string, string>> | undefined;
}

/** Parses `data[key]` of the ConfigMap. */
export function parseTrustBundle(cm: BundleConfigMap, key: string): KubeTrustBundle {
  const where = `ConfigMap ${cm.namespace}/${cm.name} key ${key}`;
  const base = { namespace: cm.namespace, name: cm.name, key, resourceVersion: cm.resourceVersion };
  const text = cm.data?.[key];
  if (text === undefined) return { ...base, certificates: [], problems: [`ConfigMap ${cm.namespace}/${cm.name} has no key ${key}`] };
  const certificates: KubeBundleCertificate[] = [];
  const problems: string[] = [];
  let index = 0;
  for (const m of text.matchAll(PEM_BLOCK)) {
    index += 1;
    if (m[1] !== 'CERTIFICATE') {
      problems.push(`${where}: PEM block #${index} is "${m[1] ?? ''}", not CERTIFICATE`);
      continue;
    }
    try {
      const der = Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64');
      const cert = new X509Certificate(der);
      certificates.push({
        sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
        serialHex: cert.serialNumber.toLowerCase(),
        subject: cert.subject.replaceAll('\n', ', '),
        notAfterMs: Date.parse(cert.validTo),
        isCa: cert.ca,
      });
    } catch (e: unknown) {
      problems.push(`${where}: certificate #${index} is not valid X.509 (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const stray = text.replace(PEM_BLOCK, '').trim();
  if (index === 0) problems.push(`${where}: no PEM CERTIFICATE block found${stray === '' ? ' (empty)' : ''}`);
  else if (stray !== '') problems.push(`${where}: unexpected text outside PEM blocks (${JSON.stringify(stray.slice(0, 40))})`);
  return { ...base, certificates, problems };
}
