import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ValidationError, type Violation } from '../domain/errors.js';
import { violationsFromZod } from './errors.js';
import { PlatformConfigSchema, type PlatformConfig } from './schema.js';

export interface LoadedConfig {
  readonly config: PlatformConfig;
  /** The file read, or null when every setting is a default. */
  readonly path: string | null;
  /** Relative paths in the file (backtest.data) resolve against this. */
  readonly baseDir: string;
}

/** Settings given on the command line; they win over the file. */
export interface ConfigOverrides {
  readonly data?: string;
  readonly symbol?: string;
  readonly strategy?: string;
}

export const DEFAULT_CONFIG_FILE = 'platform.yaml';

/** A YAML file that does not parse: names the line and column. */
function yamlViolations(text: string): { value: unknown; violations: Violation[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const violations: Violation[] = doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    const first = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
    return { field: pos ? `line ${pos.line}, column ${pos.col}` : '(yaml)', rule: first };
  });
  return { value: violations.length === 0 ? doc.toJS() : undefined, violations };
}

/** Validates a platform config object; throws ValidationError naming each key path and rule. */
export function parsePlatformConfig(input: unknown, what = 'platform config'): PlatformConfig {
  const parsed = PlatformConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw new ValidationError(what, violationsFromZod(parsed.error, PlatformConfigSchema, input ?? {}));
  return parsed.data;
}

/**
 * Reads platform.yaml: `path` when given, else ./platform.yaml when it exists, else nothing
 * (all defaults). Command-line overrides are applied before validation, so their errors name
 * the key they set. Reads only; writes nothing.
 */
export function loadPlatformConfig(options: { path?: string | undefined; cwd?: string; overrides?: ConfigOverrides } = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  let path: string | null = null;
  if (options.path !== undefined) {
    path = isAbsolute(options.path) ? options.path : resolve(cwd, options.path);
    if (!existsSync(path)) throw new ValidationError(`platform config ${path}`, [{ field: '(file)', rule: 'does not exist' }]);
  } else if (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE))) {
    path = resolve(cwd, DEFAULT_CONFIG_FILE);
  }
  let input: Record<string, unknown> = {};
  if (path !== null) {
    const { value, violations } = yamlViolations(readFileSync(path, 'utf8'));
    if (violations.length > 0) throw new ValidationError(`platform config ${path} (YAML)`, violations);
    if (value !== null && value !== undefined) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new ValidationError(`platform config ${path}`, [{ field: '(root)', rule: 'must be a mapping with keys orchestration, connector, backtest, strategy, logging' }]);
      }
      input = value as Record<string, unknown>;
    }
  }
  const o = options.overrides ?? {};
  if (o.data !== undefined || o.symbol !== undefined || o.strategy !== undefined) {
    const backtest = { ...(input['backtest'] as Record<string, unknown> | undefined) };
    const strategy = { ...(input['strategy'] as Record<string, unknown> | undefined) };
    if (o.data !== undefined) backtest['data'] = resolve(cwd, o.data);
    if (o.symbol !== undefined) backtest['symbol'] = o.symbol;
    if (o.strategy !== undefined && o.strategy !== strategy['name']) {
      strategy['name'] = o.strategy;
      // Another strategy's parameters do not apply to this one.
      delete strategy['params'];
    }
    input = { ...input, backtest, strategy };
  }
  const config = parsePlatformConfig(input, path === null ? 'platform config' : `platform config ${path}`);
  return { config, path, baseDir: path === null ? cwd : dirname(path) };
}
