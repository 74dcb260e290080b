/**
 * The contract a log under the MessageStore fulfils. The store reserves room, fills the
 * records in place, publishes them, and treats everything below `confirmedOffset` as
 * durable and visible. Today CommitLog confirms after the write (ASYNC_FLUSH) or after the
 * covering fdatasync (SYNC_FLUSH); a Raft log would confirm at its commit index instead.
 */
export interface AppendLog {
  readonly minOffset: number;
  /** End of everything reserved (the next record's physical offset). */
  readonly maxOffset: number;
  readonly writtenOffset: number;
  readonly flushedOffset: number;
  readonly confirmedOffset: number;
  /** Room for `bytes` of records in one segment, contiguous; fill it synchronously, then publish(). */
  reserve(bytes: number): Reservation;
  /**
   * Room for already-encoded records copied from another replica, at exactly `offset` (the
   * replica's physical offset, so offsets and offsetMsgIds are the same everywhere).
   * `fillerEnd`: the bytes end with the source's blank filler, which says its segment ends
   * there (this log's must too).
   */
  reserveAt(offset: number, bytes: number, segmentSize: number, fillerEnd?: number): Reservation;
  publish(): void;
  /** Called whenever written/flushed/confirmed offsets move, or with an error once writes fail. */
  onProgress(listener: (error?: Error) => void): void;
  read(offset: number, length: number, into: Buffer, intoPos: number): Promise<void>;
  flushAll(): Promise<void>;
}

export interface Reservation {
  buf: Buffer;
  /** DataView over `buf`. */
  view: DataView;
  pos: number;
  offset: number;
}
