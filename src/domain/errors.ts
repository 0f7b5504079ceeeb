import type { z } from 'zod';

export interface Violation {
  /** Dotted path of the offending field, e.g. `order.price`. */
  readonly field: string;
  readonly rule: string;
}

/** Input refused at the edge. Lists every violated rule; nothing was written. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly what: string,
    readonly violations: readonly Violation[],
  ) {
    super(`invalid ${what}: ${violations.map((v) => `${v.field}: ${v.rule}`).join('; ')}`);
  }

  static fromZod(what: string, error: z.ZodError): ValidationError {
    return new ValidationError(what, flatten(error.issues, []));
  }
}

/** A request that is well-formed but refers to something that does not exist or has ended. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly id: string, detail: string) {
    super(`${id}: ${detail}`);
  }
}

export function parseOrThrow<S extends z.ZodType>(what: string, schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ValidationError.fromZod(what, parsed.error);
  return parsed.data;
}

type Issue = z.core.$ZodIssue;

/** For a union, report the rules of the branch the input came closest to, not "Invalid input". */
function flatten(issues: readonly Issue[], base: readonly PropertyKey[]): Violation[] {
  const out: Violation[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const closest = [...issue.errors].sort((a, b) => distance(a) - distance(b))[0]!;
      if (closest.length > 0) {
        out.push(...flatten(closest, path));
        continue;
      }
    }
    out.push({ field: path.map(String).join('.') || '(root)', rule: issue.message });
  }
  return out;
}

/** How far an input is from a union branch: unknown keys mean it is the wrong branch entirely. */
function distance(issues: readonly Issue[]): number {
  return issues.reduce((n, i) => n + (i.code === 'unrecognized_keys' ? 10 : 1), 0);
}
