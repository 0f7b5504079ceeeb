import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { executionGroupMachine } from '../../../machines/execution-group.js';
import { orderMachine } from '../../../machines/order.js';
import { tradePlanMachine } from '../../../machines/trade-plan.js';
import { CliError } from '../errors.js';
import type { CliContext } from './context.js';

/** The machines, by the file they live in (machines/<name>.ts). */
export const MACHINES: Readonly<Record<string, AnyStateMachine>> = {
  order: orderMachine,
  'execution-group': executionGroupMachine,
  'trade-plan': tradePlanMachine,
};

/**
 * The machine's config as JSON, for the Stately visualizer (paste it into `createMachine(...)`
 * there): states, transitions, guards and actions by name. Functions (the context factory,
 * inline guards) cannot be JSON; they are left out.
 */
export function machineConfigJson(machine: AnyStateMachine): unknown {
  return JSON.parse(JSON.stringify(machine.config, (_key, value: unknown) => (typeof value === 'function' ? undefined : value)));
}

interface DefTransition {
  readonly target?: readonly string[];
  readonly guard?: unknown;
  readonly eventType: string;
}
interface DefNode {
  readonly id: string;
  readonly key: string;
  readonly type: string;
  readonly initial?: { readonly target?: readonly string[] };
  readonly states: Readonly<Record<string, DefNode>>;
  readonly on: Readonly<Record<string, readonly DefTransition[]>>;
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

/** The machine as a Mermaid stateDiagram-v2 (nested states become composite states). */
export function machineToMermaid(machine: AnyStateMachine): string {
  // toJSON() holds live state nodes; serializing applies their own toJSON (targets become "#id").
  const root = JSON.parse(JSON.stringify(machine.toJSON())) as DefNode;
  const rootId = root.id;
  // Mermaid ids: the state's path below the root, dots as underscores.
  const idOf = (stateNodeId: string) => stateNodeId.replace(/^#/, '').replace(new RegExp(`^${rootId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.?`), '').replace(/\./g, '_') || rootId;
  const lines: string[] = ['stateDiagram-v2'];
  const emit = (node: DefNode, indent: string) => {
    const initial = node.initial?.target?.[0];
    if (initial !== undefined) lines.push(`${indent}[*] --> ${idOf(initial)}`);
    for (const child of Object.values(node.states)) {
      const id = idOf(child.id);
      if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state ${id} {`);
        emit(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
      const internal: string[] = [];
      for (const [event, transitions] of Object.entries(child.on)) {
        for (const t of transitions) {
          const guard = guardName(t.guard);
          const label = `${event}${guard === null ? '' : ` [${guard}]`}`;
          if (!t.target || t.target.length === 0) {
            internal.push(label);
            continue;
          }
          for (const target of t.target) lines.push(`${indent}${id} --> ${idOf(target)} : ${label}`);
        }
      }
      if (internal.length > 0) lines.push(`${indent}%% ${id} handles without leaving it: ${internal.join(', ')}`);
      if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
    }
  };
  emit(root, '  ');
  return `${lines.join('\n')}\n`;
}

export interface MachinesOptions {
  readonly out?: string;
  readonly format?: 'json' | 'mermaid' | 'both';
  readonly machine?: string;
}

export function machinesCommand(options: MachinesOptions, ctx: CliContext): void {
  const names = options.machine === undefined ? Object.keys(MACHINES) : [options.machine];
  for (const n of names) if (!MACHINES[n]) throw new CliError(`unknown machine ${n}; known: ${Object.keys(MACHINES).join(', ')}`);
  if (options.out !== undefined) {
    const dir = resolve(ctx.cwd, options.out);
    mkdirSync(dir, { recursive: true });
    const format = options.format ?? 'both';
    for (const n of names) {
      const m = MACHINES[n]!;
      if (format !== 'mermaid') {
        const file = join(dir, `${n}.json`);
        writeFileSync(file, `${JSON.stringify(machineConfigJson(m), null, 2)}\n`);
        ctx.terminal.out(file);
      }
      if (format !== 'json') {
        const file = join(dir, `${n}.mmd`);
        writeFileSync(file, machineToMermaid(m));
        ctx.terminal.out(file);
      }
    }
    return;
  }
  const format = options.format ?? 'mermaid';
  if (format === 'json') {
    ctx.terminal.out(JSON.stringify(Object.fromEntries(names.map((n) => [n, machineConfigJson(MACHINES[n]!)])), null, 2));
    return;
  }
  for (const n of names) {
    const m = MACHINES[n]!;
    if (format === 'both') {
      ctx.terminal.out(`// ${n}.json`);
      ctx.terminal.out(JSON.stringify(machineConfigJson(m), null, 2));
    }
    ctx.terminal.out(`%% ${n} (machines/${n}.ts)`);
    ctx.terminal.out(machineToMermaid(m));
  }
}

export function registerMachines(program: Command, ctx: CliContext): void {
  program
    .command('machines')
    .description('export the state machines (order, execution-group, trade-plan) as Stately JSON and Mermaid stateDiagram-v2')
    .option('--out <dir>', 'write <machine>.json and <machine>.mmd files into this dir (default: print to stdout)')
    .addOption(new Option('--format <format>', 'what to export (default: both with --out, mermaid on stdout)').choices(['json', 'mermaid', 'both']))
    .addOption(new Option('--machine <name>', 'only this machine').choices(Object.keys(MACHINES)))
    .addHelpText(
      'after',
      `
JSON is each machine's config (states, transitions, guards and actions by name): paste it into
createMachine(...) in the Stately visualizer (stately.ai/viz). Mermaid renders anywhere Mermaid
does (GitHub markdown, mermaid.live). Transitions that stay in their state are listed as %% comments.`,
    )
    .action((opts: MachinesOptions) => machinesCommand(opts, ctx));
}
