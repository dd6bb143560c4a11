/**
 * Where the monitored systems are: the SPIRE server and agents, the Kubernetes API, the Cloud Run
 * Admin API. The daemon's `sources` config parses into this; the simulated fleet reports its
 * fakes' addresses in it. Each source is optional. Durations are ms.
 */
export interface SourceEndpoints {
  readonly spire?: {
    readonly trustDomain: string;
    /** Server API endpoint (unix:///… or tcp://…); absent = no server-side reads. */
    readonly server?: string;
    /** healthUrl: base URL of the agent's /live /ready listener, when reachable. */
    readonly agents: readonly { readonly node: string; readonly adminEndpoint: string; readonly healthUrl?: string }[];
    readonly delegatedIdentity: boolean;
    readonly pollIntervalMs: number;
  };
  readonly kubernetes?: {
    /** API server URL; absent = in-cluster service account, then KUBECONFIG. */
    readonly server?: string;
    /** "<namespace>/<name>" of the trust-bundle ConfigMap. */
    readonly bundleConfigMap: string;
    readonly spireNamespace: string;
  };
  readonly cloudRun?: {
    /** host:port of the Admin API; absent = run.googleapis.com with application default credentials. */
    readonly endpoint?: string;
    readonly insecure: boolean;
    readonly locations: readonly { readonly project: string; readonly location: string }[];
    readonly pollIntervalMs: number;
    /**
     * projects/<project>/secrets/<secret>: the CA-bundle secret Cloud Run services mount; sync_bundle keeps it equal to the server's
     * bundle.
     */
    readonly bundleSecret?: string;
    /**
     * host:port of the Secret Manager API; absent = secretmanager.googleapis.com with application default credentials (`insecure`
     * applies too).
     */
    readonly secretManagerEndpoint?: string;
  };
}
