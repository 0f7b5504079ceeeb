#!/usr/bin/env node
// The `tradestate` bin: the CLI is TypeScript, run through tsx (there is no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
