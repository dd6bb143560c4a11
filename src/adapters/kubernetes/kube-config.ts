/** Builds a client-node KubeConfig from plain options (explicit server, kubeconfig/default, or in-cluster). */
import { KubeConfig } from '@kubernetes/client-node';

/** Where the API server is and how to authenticate. */
export type KubeConnection =
  /** An explicit server: `http://` (loopback fakes) needs skipTLSVerify, which is then implied. */
  | { readonly kind: 'server'; readonly server: string; readonly token?: string; readonly caPem?: string; readonly skipTLSVerify?: boolean }
  /** KUBECONFIG, ~/.kube/config, then in-cluster (client-node's loadFromDefault). */
  | { readonly kind: 'default' }
  /** The pod's service account (token and CA under /var/run/secrets/kubernetes.io/serviceaccount). */
  | { readonly kind: 'in-cluster' };

/** A KubeConfig for `conn`. Throws when no cluster results (e.g. an empty default config). */
export function makeKubeConfig(conn: KubeConnection): KubeConfig {
  const kc = new KubeConfig();
  if (conn.kind === 'default') kc.loadFromDefault();
  else if (conn.kind === 'in-cluster') kc.loadFromCluster();
  else {
    const plainHttp = conn.server.startsWith('http://');
    kc.loadFromOptions({
      clusters: [
        {
          name: 'target',
          server: conn.server.replace(/\/+$/, ''),
          skipTLSVerify: conn.skipTLSVerify ?? plainHttp,
          ...(conn.caPem === undefined ? {} : { caData: Buffer.from(conn.caPem).toString('base64') }),
        },
      ],
      users: [{ name: 'user', ...(conn.token === undefined ? {} : { token: conn.token }) }],
      contexts: [{ name: 'target', cluster: 'target', user: 'user' }],
      currentContext: 'target',
    });
  }
  if (kc.getCurrentCluster() === null) throw new Error(`kubernetes: no cluster configured (${conn.kind} connection)`);
  return kc;
}
