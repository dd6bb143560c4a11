import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** A problem in a YAML file, positioned for editors: file:line:column plus the key path. */
export interface YamlProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted key path, e.g. "targets.0.envoyAdmin"; empty for syntax errors. */
  readonly path: string;
  readonly message: string;
}

/** Validation result: the typed value, or every problem found. */
export type YamlValidation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: YamlProblem[] };

/**
 * Pure: parses YAML text and validates it with a zod schema; every problem carries the
 * line and column of the offending node (or its nearest existing parent).
 */
export function validateYaml<S extends z.ZodType>(file: string, text: string, schema: S): YamlValidation<z.output<S>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  const res = schema.safeParse(doc.toJS());
  if (res.success) return { ok: true, value: res.data };
  return {
    ok: false,
    problems: res.error.issues.map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? p.toString() : p));
      const keys = 'keys' in issue && Array.isArray(issue.keys) ? issue.keys : [];
      const at = keys.length > 0 ? [...path, keys[0] ?? ''] : path;
      const pos = lc.linePos(nodeOffset(doc, at, keys.length > 0));
      return { file, line: pos.line, column: pos.col, path: at.join('.'), message: issue.message };
    }),
  };
}

/** Offset of the value at `path` (of the key itself when `atKey`), else of its nearest parent. */
function nodeOffset(doc: ReturnType<typeof parseDocument>, path: readonly (string | number)[], atKey: boolean): number {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n);
    if (atKey && n === path.length && n > 0) {
      const parent = doc.getIn(prefix.slice(0, -1), true) as
        { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined;
      const key = parent?.items?.find((it) => it.key?.value === prefix[n - 1])?.key;
      if (key?.range) return key.range[0];
    }
    const node = doc.getIn(prefix, true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
  }
  return 0;
}

/** One line per problem: "file:line:column: path: message". */
export function formatYamlProblem(p: YamlProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}
