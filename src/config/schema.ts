import { z } from 'zod';
import { PlanExecutionConfigSchema } from '../domain/config.js';
import { decimalField, nonNegativeDecimal, positiveDecimal } from './fields.js';

/**
 * platform.yaml. Every key is optional; what is left out takes the default documented here and
 * in platform.example.yaml (a test keeps the two equal). Unknown keys are errors, so a typo is
 * never silently ignored.
 */

const decimalMap = (rule: 'positive' | 'nonNegative') =>
  z.record(z.string().min(1, 'must not be empty'), rule === 'positive' ? positiveDecimal() : nonNegativeDecimal());

const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+Z?)?$/, 'must be a date such as 2015-01-31')
  .refine((s) => Number.isFinite(Date.parse(s)), 'must be a real date');

/** Fees of the simulated exchange, in basis points of notional (1 bps = 0.01%). */
export const FeesSchema = z
  .object({
    maker_bps: nonNegativeDecimal().default('1'),
    taker_bps: nonNegativeDecimal().default('5'),
    /** Quote currency of symbols without a '/' (AAPL); fees and P&L are in it. */
    currency: z.string().regex(/^[A-Z0-9]{2,10}$/, 'must be a currency code such as USD').default('USD'),
  })
  .strict();

/** SimulatedExchange options (src/connectors/simulated-exchange.ts documents each). */
export const SimulatedConnectorSchema = z
  .object({
    /** Seeds the exchange's fault PRNG. */
    seed: z.number().int().default(1),
    fees: FeesSchema.default({ maker_bps: '1', taker_bps: '5', currency: 'USD' }),
    /** Taker fills move against the order by this many bps. */
    slippage_bps: nonNegativeDecimal().default('2'),
    /** Most one order may fill per bar, as a fraction of the bar's volume (1 = no cap). */
    participation: decimalField({ min: '0', minExclusive: true, max: '1' }).default('1'),
    /** An order goes live this long after it is placed; it cannot fill on a bar that opened before. */
    latency_ms: z.number().int().min(0).default(0),
    /** Starting balances per currency (e.g. { USD: 100000 }); null = unlimited cash, no funds checks. */
    starting_balances: decimalMap('nonNegative').nullable().default(null),
    /** When false, sells beyond the held quantity are refused. */
    allow_short: z.boolean().default(true),
    /** Lot size per symbol, e.g. { AAPL: 1 }. */
    quantity_step: decimalMap('positive').default({}),
    /** Smallest order per symbol. */
    min_quantity: decimalMap('nonNegative').default({}),
    /** Whether the exchange modifies orders in place (else the worker cancels and replaces). */
    modify: z.boolean().default(true),
  })
  .strict();

export const ConnectorSchema = z
  .object({
    /** Backtests run against the deterministic simulated exchange. */
    type: z.enum(['simulated']).default('simulated'),
    simulated: SimulatedConnectorSchema.default(SimulatedConnectorSchema.parse({})),
  })
  .strict();

export const BacktestSchema = z
  .object({
    /** Instrument symbol; default: the CSV's symbol column, the file name, or AAPL for the bundled data. */
    symbol: z.string().min(1).nullable().default(null),
    /** OHLCV CSV path (relative to the config file); null = the bundled AAPL daily history. */
    data: z.string().min(1).nullable().default(null),
    /** First and last bar to use (inclusive), e.g. 2015-01-01; null = all. */
    from: isoDay.nullable().default(null),
    to: isoDay.nullable().default(null),
    /** Account equity at the start, in the fee currency: sizing and returns are based on it. */
    initial_capital: positiveDecimal().default('100000'),
    /** Seeds the ids of plans, groups, orders and fills: the same seed, the same ids. */
    id_seed: z.number().int().min(1).default(7),
    /** Write the resume checkpoint every N bars (0 = only when stopping and at the end). */
    checkpoint_every_bars: z.number().int().min(0).default(1),
  })
  .strict();

export const StrategySchema = z
  .object({
    /** A registered name (ma-crossover) or a path to a module default-exporting a StrategyDefinition. */
    name: z.string().min(1).default('ma-crossover'),
    /** strategy_instance_id of the plans; default: the name. */
    instance_id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,40}$/, 'letters, digits, _ . : - only, at most 40')
      .nullable()
      .default(null),
    /** The strategy's parameters (validated by the strategy). */
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const LoggingSchema = z
  .object({
    /** Level of the JSON log file. */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Log file, relative to the data dir. */
    file: z.string().min(1).default('tradestate.log'),
    /** Level of the readable lines on the terminal. */
    terminal_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  })
  .strict();

/** Durable monitor intervals (seeds/TRADING_MONITOR_COMPONENTS.md), in simulated time in a backtest. */
export const MonitorsSchema = z
  .object({
    /** order_monitor: resync working orders with the exchange, then protection. */
    order_interval_seconds: z.number().int().min(1).default(300),
    /** position_monitor: mark positions, trail stops, reconcile positions with the exchange. */
    position_interval_seconds: z.number().int().min(1).default(600),
  })
  .strict();

export const OrchestrationSchema = z
  .object({
    plan_execution: PlanExecutionConfigSchema.default(PlanExecutionConfigSchema.parse({})),
    monitors: MonitorsSchema.default(MonitorsSchema.parse({})),
  })
  .strict();

export const PlatformConfigSchema = z
  .object({
    orchestration: OrchestrationSchema.default(OrchestrationSchema.parse({})),
    connector: ConnectorSchema.default(ConnectorSchema.parse({})),
    backtest: BacktestSchema.default(BacktestSchema.parse({})),
    strategy: StrategySchema.default(StrategySchema.parse({})),
    logging: LoggingSchema.default(LoggingSchema.parse({})),
  })
  .strict();

export type PlatformConfig = z.output<typeof PlatformConfigSchema>;
export type PlatformConfigInput = z.input<typeof PlatformConfigSchema>;
export const DEFAULT_PLATFORM_CONFIG: PlatformConfig = PlatformConfigSchema.parse({});
