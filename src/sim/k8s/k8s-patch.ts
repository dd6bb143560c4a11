import { badRequest, KubeStatusError, kubeStatus } from './k8s-status.js';

/** The patch media types the API server accepts for PATCH (apply-patch+yaml is not modelled). */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, everything else (lists too) replaces. */
export function mergePatch(target: unknown, patch: unknown): Json {
  if (!isObject(patch)) return structuredClone(patch) as Json;
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch, reduced to what the kinds served here need: like a merge patch, except
 * that lists whose items all carry a `name` (containers, env, ports, volumes) merge by name.
 * `$patch` directives are not modelled.
 */
export function strategicMergePatch(target: unknown, patch: unknown): Json {
  const named = (l: readonly unknown[]): boolean => l.every((i) => isObject(i) && typeof i.name === 'string');
  if (Array.isArray(patch) && Array.isArray(target) && named(patch as unknown[]) && named(target as unknown[])) {
    const out = structuredClone(target as Record<string, Json>[]);
    for (const item of patch as Record<string, Json>[]) {
      const at = out.findIndex((o) => o.name === item.name);
      if (at === -1) out.push(structuredClone(item));
      else out[at] = strategicMergePatch(out[at], item) as Record<string, Json>;
    }
    return out;
  }
  if (!isObject(patch)) return structuredClone(patch) as Json;
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw badRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path === ''
    ? []
    : path
        .slice(1)
        .split('/')
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** RFC 6902 JSON patch (add, replace, remove, test). A body that is not an array → 400 as the API server. */
export function jsonPatch(target: unknown, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp');
  const doc: Record<string, Json> = { root: structuredClone(target) as Json };
  for (const op of ops as unknown[]) {
    if (!isObject(op)) throw badRequest('invalid JSON patch operation');
    const path = ['root', ...pointer(op.path)];
    const last = path.pop() ?? 'root';
    let parent: Json = doc;
    for (const seg of path) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(seg)] : isObject(parent) ? parent[seg] : undefined;
      if (next === undefined) throw unprocessable(`doc is missing path: ${JSON.stringify(op.path)}`);
      parent = next;
    }
    const value = structuredClone(op.value ?? null);
    if (Array.isArray(parent)) applyToArray(parent, last, op, value);
    else if (isObject(parent)) applyToObject(parent, last, op, value);
    else throw unprocessable(`doc is missing path: ${JSON.stringify(op.path)}`);
  }
  return doc.root ?? null;
}

function applyToArray(list: Json[], last: string, op: Record<string, Json>, value: Json): void {
  const at = last === '-' ? list.length : Number(last);
  if (!Number.isInteger(at) || at < 0 || at > list.length) throw unprocessable(`doc is missing path: ${JSON.stringify(op.path)}`);
  const exists = at < list.length;
  switch (op.op) {
    case 'add':
      list.splice(at, 0, value);
      return;
    case 'replace':
      if (!exists) break;
      list[at] = value;
      return;
    case 'remove':
      if (!exists) break;
      list.splice(at, 1);
      return;
    case 'test':
      if (JSON.stringify(list[at]) !== JSON.stringify(op.value)) throw unprocessable(`testing value ${JSON.stringify(op.path)} failed`);
      return;
    default:
      throw badRequest(`Unexpected kind: ${JSON.stringify(op.op)}`);
  }
  throw unprocessable(`doc is missing path: ${JSON.stringify(op.path)}`);
}

function applyToObject(obj: Record<string, Json>, last: string, op: Record<string, Json>, value: Json): void {
  const exists = Object.hasOwn(obj, last);
  switch (op.op) {
    case 'add':
      obj[last] = value;
      return;
    case 'replace':
      if (!exists) break;
      obj[last] = value;
      return;
    case 'remove':
      if (!exists) break;
      Reflect.deleteProperty(obj, last);
      return;
    case 'test':
      if (JSON.stringify(obj[last]) !== JSON.stringify(op.value)) throw unprocessable(`testing value ${JSON.stringify(op.path)} failed`);
      return;
    default:
      throw badRequest(`Unexpected kind: ${JSON.stringify(op.op)}`);
  }
  throw unprocessable(`doc is missing path: ${JSON.stringify(op.path)}`);
}

function unprocessable(message: string): KubeStatusError {
  return new KubeStatusError(kubeStatus(422, 'Invalid', message));
}

/** Applies a PATCH body by media type; an unknown type → 415 with the API server's message. */
export function applyPatch(contentType: string, target: unknown, body: unknown): Json {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === PATCH_TYPES.merge) return mergePatch(target, body);
  if (type === PATCH_TYPES.strategic) return strategicMergePatch(target, body);
  if (type === PATCH_TYPES.json) return jsonPatch(target, body);
  throw new KubeStatusError(
    kubeStatus(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${Object.values(PATCH_TYPES).join(', ')}`,
    ),
  );
}
