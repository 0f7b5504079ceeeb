/** Another process holds the LevelDB lock on this data directory. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(readonly dataDir: string, options?: { cause?: unknown }) {
    super(`data dir in use: ${dataDir} is opened by another process`, options);
  }
}

/** A stored value that cannot be decoded or does not match its schema. Names its key. */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
  constructor(readonly key: string, readonly problem: string) {
    super(`corrupt record at key ${key}: ${problem}`);
  }
}

export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
  constructor(readonly dataDir: string, readonly found: string, readonly expected: string) {
    super(`data dir ${dataDir} has schema version ${found}; this build reads version ${expected}`);
  }
}

/** A batch write failed: memory is ahead of disk, so the store refuses further work. */
export class StoreHaltedError extends Error {
  override readonly name = 'StoreHaltedError';
  constructor(options?: { cause?: unknown }) {
    super('storage write failed; the runtime stopped accepting work. Reopen the data dir to recover.', options);
  }
}
