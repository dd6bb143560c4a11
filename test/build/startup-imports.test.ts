/**
 * What a command loads at start is decided by the static import graph (type-only imports erased):
 * a static import is loaded with its importer, a dynamic `import()` only when it runs. These tests
 * walk that graph with dpdm (the same parser as `npm run lint:cycles`) and keep `--help` light
 * (docs/performance.md, bench:cli) and the simulator out of `run`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDependencyTree, type Dependency, type DependencyTree } from 'dpdm';

/** Folders whose modules (and vendor SDKs) `--help` must not load. */
const HEAVY = /^src\/(adapters|runtime|sim|monitor|analyze|plan|execute|knowledge|ports)\//;

let tree: DependencyTree;

/** dpdm's DependencyKind enum is not exported; its values are these strings. */
function isDynamic(d: Dependency): boolean {
  const kind: string = d.kind;
  return kind === 'DynamicImport';
}

/** Every module loaded with `entries`: their static imports and re-exports, transitively. */
function staticClosure(entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    for (const dep of tree[id] ?? []) if (dep.id !== null && !isDynamic(dep)) todo.push(dep.id);
  }
  return seen;
}

/** The targets of the dynamic imports written in `id`. */
function dynamicImports(id: string): string[] {
  return (tree[id] ?? []).filter((d) => isDynamic(d) && d.id !== null).map((d) => d.id ?? '');
}

describe('startup imports', () => {
  before(async () => {
    tree = await parseDependencyTree(['src/main.ts', 'src/cli/*.ts'], { transform: true, tsconfig: 'tsconfig.json', include: /src\// });
  });

  it('the walk sees what it should: program.ts reaches the commands, main.ts the adapters and the simulator', () => {
    assert.ok(dynamicImports('src/cli/program.ts').includes('src/cli/run.command.ts'));
    assert.ok(dynamicImports('src/main.ts').includes('src/sim/simulated-fleet.ts'));
    assert.ok(staticClosure(['src/cli/run.command.ts']).has('src/runtime/config.ts'));
  });

  it('--help loads neither adapters, stages, runtime nor the simulator: only the CLI shell and commander', () => {
    const loaded = [...staticClosure(['src/main.ts'])];
    assert.deepEqual(
      loaded.filter((m) => HEAVY.test(m)),
      [],
    );
    assert.deepEqual(
      loaded.filter((m) => m.startsWith('node_modules/')).map((m) => m.split('/')[1]),
      ['commander'],
    );
  });

  it('run never loads src/sim: its command, the daemon and every adapter main.ts builds are free of it', () => {
    const fromMain = dynamicImports('src/main.ts').filter((m) => !m.startsWith('src/sim/'));
    const loaded = staticClosure(['src/main.ts', 'src/cli/run.command.ts', ...fromMain]);
    assert.ok(loaded.has('src/runtime/daemon.ts'), 'the walk reaches the daemon');
    assert.deepEqual(
      [...loaded].filter((m) => m.startsWith('src/sim/')),
      [],
    );
  });

  it('validate loads the simulator only for a scenario file', () => {
    const loaded = staticClosure(['src/cli/validate.command.ts']);
    assert.deepEqual(
      [...loaded].filter((m) => m.startsWith('src/sim/')),
      [],
    );
    assert.ok(dynamicImports('src/cli/validate.command.ts').includes('src/sim/scenario.ts'));
  });
});
