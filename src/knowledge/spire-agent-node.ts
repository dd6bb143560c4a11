/**
 * Which node a SPIRE agent runs on, from what the server's Agent API reports: the k8s_psat/k8s_sat
 * node attestors give every agent an "agent_node_name:<node>" selector. One reading for the monitor
 * (agent:<node> subjects), the actions that look an agent up by node, and the simulated server.
 */

const NODE_SELECTOR = 'agent_node_name:';

/** The "agent_node_name:<node>" selector value for `node`. */
export const agentNodeSelector = (node: string): string => `${NODE_SELECTOR}${node}`;

/** The node an agent's selectors name, or null when none is an agent_node_name selector. */
export function nodeFromAgentSelectors(selectors: readonly { readonly value: string }[]): string | null {
  const sel = selectors.find((s) => s.value.startsWith(NODE_SELECTOR));
  return sel === undefined ? null : sel.value.slice(NODE_SELECTOR.length);
}

/** The node of an agent record: its agent_node_name selector, else the last path segment of its SPIFFE ID. */
export function nodeOfAgentRecord(a: { readonly spiffeId: string; readonly selectors: readonly { readonly value: string }[] }): string {
  return nodeFromAgentSelectors(a.selectors) ?? a.spiffeId.split('/').pop() ?? a.spiffeId;
}
