import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerInspect } from './inspect.js';
import { registerMachines } from './machines.js';
import { registerReconcile } from './reconcile.js';
import { registerRun } from './run.js';
import { registerStory } from './story.js';

/** A subcommand: adds itself to the program; sets `ctx.exitCode` when it should not exit 0. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** Every `tradestate` subcommand, in help order. */
export const COMMANDS: readonly RegisterCommand[] = [registerRun, registerInspect, registerStory, registerMachines, registerReconcile];
