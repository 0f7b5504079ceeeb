import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { machineConfigJson, machineToMermaid, MACHINES } from '../../src/cli/commands/machines.js';
import { money, percent } from '../../src/cli/format.js';
import { readableLine } from '../../src/cli/logging.js';

describe('money and percent', () => {
  it('rounds in decimal (half-even), groups thousands, signs on request', () => {
    expect(money('1234567.891')).toBe('1,234,567.89');
    expect(money('0.125')).toBe('0.12');
    expect(money('0.135')).toBe('0.14');
    expect(money('-5052.5634114726318', { signed: true })).toBe('-5,052.56');
    expect(money('12', { signed: true })).toBe('+12.00');
    expect(money('-0.001', { signed: true })).toBe('0.00');
    expect(money('100000')).toBe('100,000.00');
    expect(percent('43.3333', { dp: 2 })).toBe('43.33%');
    expect(percent(null)).toBe('n/a');
  });
});

describe('readable log lines', () => {
  it('turn a pino JSON record into time, level, message and flat fields', () => {
    const line = readableLine(JSON.stringify({ level: 40, time: '2026-01-02T03:04:05.678Z', pid: 1, msg: 'directive d1 failed: boom', directiveId: 'd1', planId: 'TPL_x', nested: { a: 1 }, error: 'boom' }));
    expect(line).toBe('03:04:05 WARN directive d1 failed: boom planId=TPL_x');
    expect(readableLine('not json\n')).toBe('not json');
  });
});

describe('machine export', () => {
  it('exports every machine config as JSON without functions', () => {
    for (const [name, machine] of Object.entries(MACHINES)) {
      const json = machineConfigJson(machine) as { id: string; states: Record<string, unknown>; context?: unknown };
      expect(typeof json.id, name).toBe('string');
      expect(Object.keys(json.states).length).toBeGreaterThan(2);
      expect(json.context).toBeUndefined();
      expect(JSON.stringify(json)).not.toContain('function');
    }
  });

  it('draws initial, guarded, final and nested states in Mermaid', () => {
    const m = createMachine({
      id: 'door',
      initial: 'closed',
      states: {
        closed: { on: { OPEN: { target: 'open', guard: 'unlocked' }, KNOCK: {} } },
        open: {
          initial: 'wide',
          states: { wide: { on: { PUSH: 'ajar' } }, ajar: {} },
          on: { CLOSE: 'closed', BREAK: 'broken' },
        },
        broken: { type: 'final' },
      },
    });
    expect(machineToMermaid(m)).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> closed',
        '  closed --> open : OPEN [unlocked]',
        '  %% closed handles without leaving it: KNOCK',
        '  state open {',
        '    [*] --> open_wide',
        '    open_wide --> open_ajar : PUSH',
        '  }',
        '  open --> closed : CLOSE',
        '  open --> broken : BREAK',
        '  broken --> [*]',
        '',
      ].join('\n'),
    );
  });
});
