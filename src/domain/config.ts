import { z } from 'zod';

/** `orchestration.plan_execution` of platform.yaml (seeds/PLATFORM_EXECUTION_ORCHESTRATION.md). */
export const PlanExecutionConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Per connector call. */
    timeout_seconds: z.number().positive().max(3600).default(30),
    retry_policy: z
      .object({
        max_retries: z.number().int().min(0).max(20).default(3),
        backoff_strategy: z.enum(['constant', 'linear', 'exponential']).default('exponential'),
        initial_delay_ms: z.number().int().min(0).default(100),
        max_delay_ms: z.number().int().min(0).default(5000),
      })
      .strict()
      .default({ max_retries: 3, backoff_strategy: 'exponential', initial_delay_ms: 100, max_delay_ms: 5000 }),
    error_handling: z
      .object({
        on_api_failure: z.enum(['rollback_ledger', 'alert_only']).default('rollback_ledger'),
        on_ledger_failure: z.enum(['alert_admin', 'continue']).default('alert_admin'),
        on_journal_failure: z.enum(['continue', 'alert_admin', 'fail_execution']).default('continue'),
      })
      .strict()
      .default({ on_api_failure: 'rollback_ledger', on_ledger_failure: 'alert_admin', on_journal_failure: 'continue' }),
    monitoring: z
      .object({
        log_all_executions: z.boolean().default(true),
        alert_on_slow_execution_ms: z.number().int().positive().default(1000),
        metrics_enabled: z.boolean().default(true),
      })
      .strict()
      .default({ log_all_executions: true, alert_on_slow_execution_ms: 1000, metrics_enabled: true }),
  })
  .strict();

export type PlanExecutionConfig = z.output<typeof PlanExecutionConfigSchema>;
export type PlanExecutionConfigInput = z.input<typeof PlanExecutionConfigSchema>;
export const DEFAULT_PLAN_EXECUTION: PlanExecutionConfig = PlanExecutionConfigSchema.parse({});
