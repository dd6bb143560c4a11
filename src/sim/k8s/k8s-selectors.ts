import { badRequest } from './k8s-status.js';

/** One parsed selector requirement. */
type Requirement =
  | { readonly op: 'eq' | 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists' | 'notexists'; readonly key: string };

/** A compiled selector: true when a set of labels (or fields) satisfies every requirement. */
export type Selector = (fields: Readonly<Record<string, string>>) => boolean;

/** Splits on commas outside parentheses ("a in (x,y),b" → ["a in (x,y)", "b"]). */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

function parseTerm(term: string, setBased: boolean): Requirement {
  const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set !== null && setBased) {
    const values = (set[3] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    return { op: set[2] === 'in' ? 'in' : 'notin', key: set[1] ?? '', values };
  }
  const cmp = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term);
  if (cmp !== null) return { op: cmp[2] === '!=' ? 'neq' : 'eq', key: cmp[1] ?? '', value: cmp[3] ?? '' };
  if (setBased && /^![\w./-]+$/.test(term)) return { op: 'notexists', key: term.slice(1) };
  if (setBased && /^[\w./-]+$/.test(term)) return { op: 'exists', key: term };
  throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
}

function matches(r: Requirement, fields: Readonly<Record<string, string>>): boolean {
  const v = Object.hasOwn(fields, r.key) ? fields[r.key] : undefined;
  switch (r.op) {
    case 'eq':
      return v === r.value;
    case 'neq':
      return v !== r.value;
    case 'in':
      return v !== undefined && r.values.includes(v);
    case 'notin':
      return v === undefined || !r.values.includes(v);
    case 'exists':
      return v !== undefined;
    case 'notexists':
      return v === undefined;
  }
}

/** Compiles a label selector (=, ==, !=, in, notin, key, !key). Empty matches everything; bad syntax → 400. */
export function parseLabelSelector(s: string | null): Selector {
  const reqs = splitTerms(s ?? '').map((t) => parseTerm(t, true));
  return (labels) => reqs.every((r) => matches(r, labels));
}

/**
 * Compiles a field selector (=, ==, != only, as the API server). Empty matches everything; bad
 * syntax → 400; a key outside `supported` (when given) → 400 "field label not supported".
 */
export function parseFieldSelector(s: string | null, supported?: readonly string[]): Selector {
  const reqs = splitTerms(s ?? '').map((t) => parseTerm(t, false));
  const unknown = supported === undefined ? undefined : reqs.find((r) => !supported.includes(r.key));
  if (unknown !== undefined) throw badRequest(`field label not supported: ${unknown.key}`);
  return (fields) => reqs.every((r) => matches(r, fields));
}
