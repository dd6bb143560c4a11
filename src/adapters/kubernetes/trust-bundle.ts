/**
 * Parses the SPIRE trust-bundle ConfigMap (k8sbundle notifier: key "bundle.crt", concatenated
 * PEM CERTIFICATE blocks) into plain data. Defects become problem sentences, never throws.
 */
import { parsePemCertificates } from '../../knowledge/pem-certificates.js';
import type { KubeTrustBundle } from '../../ports/kubernetes.port.js';

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
  const { certificates, problems } = parsePemCertificates(text, where);
  return { ...base, certificates, problems };
}
