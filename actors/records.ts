import { z } from 'zod';
import { CorruptRecordError } from '../storage/errors.js';
import { decodeJson, type Area } from '../storage/store.js';
import {
  ExecutionGroupContextSchema,
  FillSchema,
  GroupStatus,
  OrderContextSchema,
  OrderStatus,
  PlanStatus,
  TradePlanContextSchema,
  type Fill,
} from '../src/domain/schemas.js';

export type ActorKind = 'plan' | 'group' | 'order';

/** The persisted form of an actor: its state value, context and transition count. */
export interface ActorRecord {
  readonly kind: ActorKind;
  readonly value: string;
  readonly context: unknown;
  readonly seq: number;
}

const RecordSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('order'), value: OrderStatus, context: OrderContextSchema, seq: z.number().int().nonnegative() }),
  z.object({ kind: z.literal('group'), value: GroupStatus, context: ExecutionGroupContextSchema, seq: z.number().int().nonnegative() }),
  z.object({ kind: z.literal('plan'), value: PlanStatus, context: TradePlanContextSchema, seq: z.number().int().nonnegative() }),
]);

function problem(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Decodes and validates a stored actor; any defect is a CorruptRecordError naming the key. */
export function decodeActorRecord(area: Area, key: string, raw: string): ActorRecord {
  const parsed = RecordSchema.safeParse(decodeJson(area, key, raw));
  if (!parsed.success) throw new CorruptRecordError(`${area}!${key}`, problem(parsed.error));
  if ((parsed.data.context as Record<string, unknown>)[`${parsed.data.kind === 'plan' ? 'plan' : parsed.data.kind}Id`] !== key) {
    throw new CorruptRecordError(`${area}!${key}`, 'record id does not match its key');
  }
  return parsed.data;
}

export function decodeFill(key: string, raw: string): Fill {
  const parsed = FillSchema.safeParse(decodeJson('fill', key, raw));
  if (!parsed.success) throw new CorruptRecordError(`fill!${key}`, problem(parsed.error));
  return parsed.data;
}
