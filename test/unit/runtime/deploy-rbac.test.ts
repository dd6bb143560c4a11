/**
 * deploy/rbac.yaml grants exactly what the Kubernetes adapter calls: every client-node method in
 * src/adapters/kubernetes (listX → list, readX → get, patchX → patch, deleteX → delete, replaceX →
 * update, createX → create) and a watch per informer path. A call without its grant fails in a
 * cluster; a grant without its call is privilege nobody needs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ADAPTER = 'src/adapters/kubernetes';
const VERBS: Record<string, string> = { list: 'list', read: 'get', patch: 'patch', delete: 'delete', replace: 'update', create: 'create' };
const RESOURCES: Record<string, string> = {
  Pod: 'pods',
  PodLog: 'pods/log',
  ConfigMap: 'configmaps',
  Event: 'events',
  ReplicaSet: 'replicasets',
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

/** "group/resource verb" for every API call and watch the adapter makes. */
function usedByAdapter(): Set<string> {
  const used = new Set<string>();
  for (const file of readdirSync(ADAPTER).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(ADAPTER, file), 'utf8');
    for (const m of text.matchAll(
      /\b(core|apps)\.(list|read|patch|delete|replace|create)(?:Namespaced)?([A-Z]\w*?)(?:ForAllNamespaces)?\(/g,
    )) {
      const [, api = '', verb = '', kind = ''] = m;
      const resource = RESOURCES[kind];
      assert.ok(resource !== undefined, `${file}: ${api}.${verb}…${kind}: add the resource to this test's table`);
      used.add(`${api === 'apps' ? 'apps' : ''}/${resource} ${VERBS[verb] ?? verb}`);
    }
    for (const m of text.matchAll(/path: [`']\/(api\/v1|apis\/apps\/v1)\/(?:namespaces\/\$\{[^}]+\}\/)?(\w+)[`']/g)) {
      used.add(`${m[1] === 'apis/apps/v1' ? 'apps' : ''}/${m[2] ?? ''} watch`);
    }
  }
  return used;
}

/** "group/resource verb" for every grant of the ClusterRole. */
function granted(): Set<string> {
  const docs = parseAllDocuments(readFileSync('deploy/rbac.yaml', 'utf8')).map(
    (d) => d.toJS() as { kind?: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] },
  );
  const roles = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role');
  assert.equal(roles.length, 1);
  const out = new Set<string>();
  for (const r of roles[0]?.rules ?? []) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res} ${v}`);
  }
  return out;
}

describe('deploy/rbac.yaml is least privilege', () => {
  it('grants exactly the verbs the Kubernetes adapter uses, per resource', () => {
    const used = usedByAdapter();
    assert.ok(used.size > 10, `the adapter scan found too little (${[...used].join(', ')}): did its code move?`);
    assert.deepEqual([...granted()].sort(), [...used].sort());
  });

  it('no wildcard, no nodes, no patch on events', () => {
    const g = [...granted()];
    assert.equal(
      g.some((x) => x.includes('*')),
      false,
    );
    assert.equal(
      g.some((x) => x.startsWith('/nodes ')),
      false,
    );
    assert.equal(g.includes('/events patch'), false);
  });
});
