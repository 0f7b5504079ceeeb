import { Level } from 'level';
import { CorruptRecordError, DataDirInUseError, SchemaVersionError } from './errors.js';

/**
 * Key layout. Each area is a sublevel (`!area!key`); values are UTF-8 JSON.
 * - live:      non-terminal actor snapshots, by actor id (all of them are restored on open)
 * - archive:   terminal actor snapshots, by actor id (read on demand, never restored)
 * - log:       one record per transition, `<actorId>!<seq:10>`
 * - fill:      fills, by fill id
 * - index:     secondary keys, e.g. `status!<kind>!<status>!<id>` of ended actors, `client!<clientOrderId>`
 * - outbox:    effects committed but not yet settled, `<seq:12>`
 * - anomaly:   refused or suspicious inputs, `<seq:12>`
 * - directive: the committed outcome of each ExecutionDirective, by directive_id (idempotency)
 * - journal:   causality entries (owned by the journal writer)
 * - meta:      schema version and counters
 */
export const AREAS = ['live', 'archive', 'log', 'fill', 'index', 'outbox', 'anomaly', 'directive', 'journal', 'meta'] as const;
export type Area = (typeof AREAS)[number];

/** 2: the status index holds ended actors only. */
export const SCHEMA_VERSION = '2';

export type StoreOp =
  | { readonly type: 'put'; readonly area: Area; readonly key: string; readonly value: string }
  | { readonly type: 'del'; readonly area: Area; readonly key: string };

function openArea(db: Level<string, string>, name: Area) {
  return db.sublevel<string, string>(name, { valueEncoding: 'utf8', keyEncoding: 'utf8' });
}
type Sub = ReturnType<typeof openArea>;

export function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** An opened data directory: atomic batches across areas, reads, and decoding errors that name keys. */
export class Store {
  private constructor(
    readonly dataDir: string,
    private readonly db: Level<string, string>,
    private readonly areas: Record<Area, Sub>,
  ) {}

  static async open(dataDir: string): Promise<Store> {
    const db = new Level<string, string>(dataDir, { valueEncoding: 'utf8', keyEncoding: 'utf8' });
    try {
      await db.open();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new DataDirInUseError(dataDir, { cause: error });
      throw error;
    }
    const areas = {} as Record<Area, Sub>;
    for (const area of AREAS) areas[area] = openArea(db, area);
    const store = new Store(dataDir, db, areas);
    const version = await areas.meta.get('schema');
    if (version === undefined) await store.write([{ type: 'put', area: 'meta', key: 'schema', value: SCHEMA_VERSION }]);
    else if (version !== SCHEMA_VERSION) {
      await db.close();
      throw new SchemaVersionError(dataDir, version, SCHEMA_VERSION);
    }
    return store;
  }

  /**
   * One atomic, synced LevelDB batch. Keys are prefixed here as the sublevels would
   * (`!area!key`) and the batch goes straight to classic-level's native write: abstract-level's
   * per-operation cloning, encoding and sublevel delegation cost more than the rest of a commit
   * (measured with `npm run bench`). We use no hooks or write events, so nothing is skipped
   * that this store relies on; without that entry point we fall back to the public API.
   */
  async write(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    const batch = new Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }>(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const key = `!${op.area}!${op.key}`;
      batch[i] = op.type === 'put' ? { type: 'put', key, value: op.value } : { type: 'del', key };
    }
    const native = (this.db as unknown as { _batch?: (ops: unknown[], options: { sync: boolean }) => Promise<void> })._batch;
    if (typeof native === 'function') await native.call(this.db, batch, { sync: true });
    else await this.db.batch(batch, { sync: true });
  }

  async getRaw(area: Area, key: string): Promise<string | undefined> {
    return this.areas[area].get(key);
  }

  async getManyRaw(area: Area, keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    return this.areas[area].getMany([...keys]);
  }

  /** Decodes JSON; a value that does not parse is a CorruptRecordError naming `area!key`. */
  async getJson(area: Area, key: string): Promise<unknown> {
    const raw = await this.getRaw(area, key);
    return raw === undefined ? undefined : decodeJson(area, key, raw);
  }

  /**
   * Entries of an area in key order, read from the root database in chunks of 1000 (one
   * native call each) with the area prefix stripped here: per-entry sublevel decoding was most
   * of the cost of a restore.
   */
  async *entries(area: Area, range: { gte?: string; lt?: string; reverse?: boolean; limit?: number } = {}) {
    const prefix = `!${area}!`;
    const it = this.db.iterator({
      gte: prefix + (range.gte ?? ''),
      lt: range.lt === undefined ? prefix.slice(0, -1) + '"' : prefix + range.lt,
      reverse: range.reverse ?? false,
      limit: range.limit ?? -1,
    });
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [key, value] of chunk) yield [key.slice(prefix.length), value] as const;
      }
    } finally {
      await it.close();
    }
  }

  async *keys(area: Area, range: { gte?: string; lt?: string; limit?: number } = {}) {
    for await (const key of this.areas[area].keys(range)) yield key;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  get isOpen(): boolean {
    return this.db.status === 'open';
  }
}

export function decodeJson(area: Area, key: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new CorruptRecordError(`${area}!${key}`, `not valid JSON (${(error as Error).message})`);
  }
}

/** Upper bound for a prefix range: every key starting with `prefix` is < prefixEnd(prefix). */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
