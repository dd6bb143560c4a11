/**
 * Plausible SPIRE agent and Envoy container logs for the fake API server's pod log subresource,
 * rendered from plain state: SPIRE's logrus text format (time="…" level=… msg="…" key=value), the
 * startup sequence at the container's start, one "Creating X509-SVID" per served workload, then
 * what the node's faults make an agent log ("Synchronize failed" every 5 s while it cannot reach
 * its server, "Agent crashed" when it went down).
 */

/** One fault on the agent's node, as the log needs it. */
export interface AgentLogFault {
  readonly kind: string;
  readonly injectedAt: number;
  readonly healedAt: number | null;
}

/** What an agent's log is rendered from. */
export interface AgentLogInput {
  readonly node: string;
  readonly trustDomain: string;
  /** When the agent container started (the pod's creation). */
  readonly startedAtMs: number;
  readonly nowMs: number;
  /** SPIFFE IDs of the workloads the agent serves. */
  readonly spiffeIds: readonly string[];
  readonly faults: readonly AgentLogFault[];
}

/** SPIRE's agent sync interval: a failing sync logs once per interval. */
const SYNC_INTERVAL_MS = 5_000;
/** Lines kept at most (the oldest are dropped, like a rotated container log). */
const MAX_LINES = 2_000;
const SERVER_ADDRESS = 'spire-server.spire.svc:8081';

const stamp = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const quote = (v: string): string => (/^[A-Za-z0-9_./:@-]+$/.test(v) ? v : JSON.stringify(v));

function line(atMs: number, level: string, msg: string, fields: Readonly<Record<string, string>> = {}): { at: number; text: string } {
  const kv = Object.entries(fields)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => ` ${k}=${quote(v)}`)
    .join('');
  return { at: atMs, text: `time="${stamp(atMs)}" level=${level} msg=${JSON.stringify(msg)}${kv}` };
}

/** The agent container's log since it started, oldest line first, each ending in "\n". */
export function renderAgentLog(input: AgentLogInput): string {
  const t0 = input.startedAtMs;
  const agentId = `spiffe://${input.trustDomain}/spire/agent/k8s_psat/sim/${input.node}`;
  const lines = [
    line(t0, 'warning', 'Current umask 0022 is too permissive; setting umask 0027'),
    line(t0, 'info', 'Starting agent', { data_dir: '/run/spire/data', version: '1.11.1' }),
    line(t0, 'info', 'Plugin loaded', {
      external: 'false',
      plugin_name: 'k8s_psat',
      plugin_type: 'NodeAttestor',
      subsystem_name: 'catalog',
    }),
    line(t0, 'info', 'Plugin loaded', {
      external: 'false',
      plugin_name: 'k8s',
      plugin_type: 'WorkloadAttestor',
      subsystem_name: 'catalog',
    }),
    line(t0, 'info', 'Bundle loaded', { subsystem_name: 'attestor', trust_domain_id: `spiffe://${input.trustDomain}` }),
    line(t0, 'info', 'Node attestation was successful', { reattestable: 'true', spiffe_id: agentId, subsystem_name: 'attestor' }),
    ...input.spiffeIds.map((id) => line(t0, 'info', 'Creating X509-SVID', { spiffe_id: id, subsystem_name: 'manager' })),
    line(t0, 'info', 'Starting Workload and SDS APIs', {
      address: '/run/spire/agent-sockets/spire-agent.sock',
      network: 'unix',
      subsystem_name: 'endpoints',
    }),
    line(t0, 'info', 'Serving health checks', { address: '0.0.0.0:8080', subsystem_name: 'health' }),
  ];
  for (const f of input.faults) {
    const from = Math.max(t0, f.injectedAt);
    const until = Math.min(input.nowMs, f.healedAt ?? input.nowMs);
    if (from > until) continue;
    if (f.kind === 'agent_server_lost') {
      for (let t = from; t <= until; t += SYNC_INTERVAL_MS) {
        lines.push(
          line(t, 'error', 'Synchronize failed', {
            error: `failed to fetch authorized entries: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp ${SERVER_ADDRESS}: connect: connection refused"`,
            subsystem_name: 'manager',
          }),
        );
      }
    } else if (f.kind === 'agent_down') {
      lines.push(
        line(from, 'error', 'Agent crashed', {
          error: 'workload API server stopped: accept unix /run/spire/agent-sockets/spire-agent.sock: use of closed network connection',
        }),
      );
    }
  }
  lines.sort((a, b) => a.at - b.at);
  return lines
    .slice(-MAX_LINES)
    .map((l) => `${l.text}\n`)
    .join('');
}

/** An Envoy sidecar's log since its container started: the startup lines of a healthy Envoy. */
export function renderEnvoyLog(startedAtMs: number, restarts: number): string {
  const at = `[${new Date(startedAtMs).toISOString().replace('T', ' ').replace('Z', '')}][1]`;
  return [
    `${at}[info][main] [source/server/server.cc:430] initializing epoch ${restarts} (base id=0, hot restart version=11.104)`,
    `${at}[info][main] [source/server/server.cc:1020] runtime: {}`,
    `${at}[info][admin] [source/server/admin/admin.cc:66] admin address: 0.0.0.0:9901`,
    `${at}[info][upstream] [source/common/upstream/cluster_manager_impl.cc:240] cm init: all clusters initialized`,
    `${at}[info][main] [source/server/server.cc:984] all clusters initialized. initializing init manager`,
    `${at}[info][config] [source/common/listener_manager/listener_manager_impl.cc:930] all dependencies initialized. starting workers`,
    `${at}[info][main] [source/server/server.cc:1003] starting main dispatch loop`,
  ]
    .map((l) => `${l}\n`)
    .join('');
}
