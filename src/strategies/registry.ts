import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { violationsFromZod } from '../config/errors.js';
import { ValidationError } from '../domain/errors.js';
import type { Hints, Strategy } from './api.js';
import { createMaCrossover, MaCrossoverParamsSchema } from './ma-crossover.js';

/**
 * How a strategy is made from `strategy.params` of platform.yaml. A module given to
 * `--strategy ./my-strategy.ts` default-exports one of these.
 */
export interface StrategyDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly summary: string;
  readonly params: S;
  create(params: z.output<S>, instanceId: string): Strategy<Hints>;
}

export function defineStrategy<S extends z.ZodType>(definition: StrategyDefinition<S>): StrategyDefinition<S> {
  return definition;
}

export const maCrossover = defineStrategy({
  name: 'ma-crossover',
  summary: 'moving-average crossover, ATR stop-loss / take-profit / trailing stop, long and short',
  params: MaCrossoverParamsSchema,
  create: (params, instanceId) => createMaCrossover(params, instanceId) as unknown as Strategy<Hints>,
});

/** Strategies known by name. */
export const STRATEGIES: Readonly<Record<string, StrategyDefinition>> = {
  [maCrossover.name]: maCrossover as unknown as StrategyDefinition,
};

export class UnknownStrategyError extends Error {
  override readonly name = 'UnknownStrategyError';
}

function isDefinition(value: unknown): value is StrategyDefinition {
  const v = value as Partial<StrategyDefinition> | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.create === 'function' && typeof v.params === 'object';
}

/**
 * A strategy definition by registered name, or from a module path (`./x.ts`, `/abs/x.js`) whose
 * default export is a StrategyDefinition.
 */
export async function resolveStrategyDefinition(nameOrPath: string, cwd = process.cwd()): Promise<StrategyDefinition> {
  const known = STRATEGIES[nameOrPath];
  if (known) return known;
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || /\.(ts|js|mjs|mts)$/.test(nameOrPath);
  if (!looksLikePath) {
    throw new UnknownStrategyError(`unknown strategy "${nameOrPath}"; known: ${Object.keys(STRATEGIES).join(', ')} (or a path to a module default-exporting a StrategyDefinition)`);
  }
  const path = isAbsolute(nameOrPath) ? nameOrPath : resolve(cwd, nameOrPath);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new UnknownStrategyError(`cannot load strategy module ${path}: ${(error as Error).message}`);
  }
  if (!isDefinition(mod.default)) throw new UnknownStrategyError(`${path} must default-export a StrategyDefinition ({ name, summary, params, create })`);
  return mod.default;
}

/** Validates params (errors name `strategy.params.<key>`) and creates the strategy. */
export function instantiate(definition: StrategyDefinition, params: unknown, instanceId: string): { strategy: Strategy<Hints>; params: unknown } {
  const parsed = definition.params.safeParse(params ?? {});
  if (!parsed.success) {
    throw new ValidationError(`platform config (parameters of strategy ${definition.name})`, violationsFromZod(parsed.error, definition.params, params ?? {}, ['strategy', 'params']));
  }
  return { strategy: definition.create(parsed.data, instanceId), params: parsed.data };
}
