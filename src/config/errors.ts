import type { z } from 'zod';
import type { Violation } from '../domain/errors.js';

/**
 * Turns zod issues into violations that name the full key path and, where the schema knows them,
 * the allowed values (enums) or allowed keys (unknown keys, with a "did you mean").
 */

type Def = { readonly type: string } & Record<string, unknown>;
interface Introspectable {
  readonly _zod: { readonly def: Def };
}

function defOf(schema: unknown): Def | undefined {
  return (schema as Partial<Introspectable> | undefined)?._zod?.def;
}

/** Strips default / optional / nullable / pipe (preprocess) wrappers. */
function unwrap(schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 20; i++) {
    const def = defOf(s);
    if (!def) return s;
    if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault' || def.type === 'readonly') s = def['innerType'];
    else if (def.type === 'pipe') s = defOf(def['out'])?.type === 'transform' ? def['in'] : def['out'];
    else return s;
  }
  return s;
}

/** The schema at `path` under `schema`, if it can be followed. */
function schemaAt(schema: unknown, path: readonly PropertyKey[]): unknown {
  let s = unwrap(schema);
  for (const key of path) {
    const def = defOf(s);
    if (!def) return undefined;
    if (def.type === 'object') s = unwrap((def['shape'] as Record<string, unknown>)[String(key)]);
    else if (def.type === 'record') s = unwrap(def['valueType']);
    else if (def.type === 'array') s = unwrap(def['element']);
    else return undefined;
  }
  return s;
}

function allowedKeys(schema: unknown, path: readonly PropertyKey[]): string[] | undefined {
  const def = defOf(schemaAt(schema, path));
  return def?.type === 'object' ? Object.keys(def['shape'] as Record<string, unknown>) : undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function didYouMean(key: string, allowed: readonly string[]): string {
  const lower = key.toLowerCase();
  const partial = allowed.find((k) => k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase()));
  if (partial !== undefined && key.length >= 3) return ` (did you mean "${partial}"?)`;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of allowed) {
    const dd = distance(key.toLowerCase(), k.toLowerCase());
    if (dd < bestD) {
      best = k;
      bestD = dd;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping of keys',
  array: 'a list',
  int: 'a whole number',
};

export function violationsFromZod(error: z.ZodError, schema: unknown, input: unknown, base: readonly PropertyKey[] = []): Violation[] {
  const out: Violation[] = [];
  for (const issue of error.issues) {
    const path = [...issue.path];
    const field = [...base, ...path].map(String).join('.') || '(root)';
    const value = valueAt(input, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(schema, path) ?? [];
        for (const key of issue.keys) {
          const at = [...base, ...path, key].map(String).join('.');
          out.push({ field: at, rule: `unknown key${didYouMean(key, allowed)}; allowed keys: ${allowed.join(', ')}` });
        }
        break;
      }
      case 'invalid_value':
        out.push({ field, rule: `${show(value)} is not allowed; allowed values: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` });
        break;
      case 'invalid_type': {
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        out.push({ field, rule: value === undefined ? `is required (${expected})` : `must be ${expected}, got ${kind(value)} ${show(value)}` });
        break;
      }
      case 'too_small':
        out.push({ field, rule: `must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''}, got ${show(value)}` });
        break;
      case 'too_big':
        out.push({ field, rule: `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''}, got ${show(value)}` });
        break;
      default:
        out.push({ field, rule: value === undefined || issue.code === 'custom' ? issue.message : `${issue.message}, got ${show(value)}` });
    }
  }
  return out;
}
