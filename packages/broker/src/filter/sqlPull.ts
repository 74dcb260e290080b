import { StoredMessage } from "@tidemq/protocol";
import type { GetMessageResult, MessageStore } from "@tidemq/store";
import type { MatchBits } from "./MatchBits.js";
import { RawProperties } from "./RawProperties.js";
import { activeSqlMatchIndexOf, type IndexedStore } from "./SqlMatchIndex.js";
import type { Sql92Filter } from "./sql92/index.js";

/**
 * Stored messages a pull reads per step while looking for SQL92 matches: a step is one
 * consume-queue read and one commit-log read (sequential messages merge into one range).
 */
const SCAN_STEP = 256;
/**
 * Most messages one pull examines before it answers (with what matched, or
 * NO_MATCHED_MESSAGE and the offset to resume from): bounds a pull's time and I/O when
 * little matches. RocketMQ scans 16,000 bytes of consume queue (800 entries) per pull.
 */
export const MAX_SQL_SCAN = 4096;

/**
 * A pull for an SQL92 subscription (spec §9.2): the broker reads the candidates and
 * evaluates the expression on each one's stored properties, so non-matching messages never
 * cross the wire. Matching records are answered in queue order; when the wanted count is
 * reached mid-step, the next offset is the one after the last match (nothing is skipped).
 */
export async function getMessageMatchingSql(
  store: Pick<MessageStore, "getMessage"> & Partial<IndexedStore>,
  topic: string,
  queueId: number,
  offset: number,
  maxMsgNums: number,
  filter: Sql92Filter,
  maxBytes: number | undefined,
): Promise<GetMessageResult> {
  // The store's match index (SqlMatchIndex): this pull also marks the expression as in use.
  const bits = hasArrivals(store) ? activeSqlMatchIndexOf(store)?.track(topic, queueId, filter) : undefined;
  if (bits?.covers(offset))
    return pullIndexed(store, topic, queueId, offset, maxMsgNums, filter, maxBytes, bits);
  const want = Math.max(1, maxMsgNums);
  const byteLimit = maxBytes ?? Number.POSITIVE_INFINITY;
  const parts: Buffer[] = [];
  const queueOffsets: number[] = [];
  let bytes = 0;
  let next = offset;
  let scanned = 0;
  let last: GetMessageResult | undefined;
  const props = new RawProperties();
  while (queueOffsets.length < want && scanned < MAX_SQL_SCAN) {
    const step = Math.min(SCAN_STEP, MAX_SQL_SCAN - scanned);
    const stepStart = next;
    const r = await store.getMessage(topic, queueId, next, step, undefined, maxBytes);
    if (r.status !== "FOUND") {
      // The first read's own answer (offset checks, an empty queue) goes back as it is;
      // later, the end of the queue (or removed data) ends the scan.
      if (last === undefined) return r;
      last = { ...last, minOffset: r.minOffset, maxOffset: r.maxOffset };
      break;
    }
    last = r;
    let pos = 0;
    let full = false;
    for (let i = 0; i < r.messageCount; i++) {
      const record = new StoredMessage(r.body, pos);
      const size = record.storeSize;
      const queueOffset = r.queueOffsets[i]!;
      // The expression reads its few properties from the record bytes: no decoded text, no object.
      props.reset(r.body, record.propertiesStart, pos + size);
      const match = filter.matches(props.get);
      // At the match bits' frontier (a consumer keeping up, woken by the arrival): what this
      // scan evaluates is recorded, so the index does not read and evaluate it again. Entries
      // of this read before queueOffset that the store did not return are no longer in the log.
      if (bits !== undefined && bits.end >= stepStart && bits.end <= queueOffset) {
        bits.skipTo(queueOffset);
        bits.push(match);
      }
      if (match) {
        if (queueOffsets.length > 0 && bytes + size > byteLimit) {
          next = queueOffset;
          full = true;
          break;
        }
        parts.push(r.body.subarray(pos, pos + size));
        queueOffsets.push(queueOffset);
        bytes += size;
      }
      pos += size;
      next = queueOffset + 1;
      if (queueOffsets.length >= want) {
        full = true;
        break;
      }
    }
    scanned += r.messageCount;
    if (full) break;
    next = r.nextBeginOffset;
  }
  return answer(last!, next, parts, queueOffsets, bytes);
}

/** A pull's answer: the matches read (FOUND) or none (NO_MATCHED_MESSAGE), resuming at `next`. */
function answer(
  base: GetMessageResult,
  next: number,
  parts: Buffer[],
  queueOffsets: number[],
  bytes: number,
): GetMessageResult {
  if (queueOffsets.length === 0) {
    return {
      status: "NO_MATCHED_MESSAGE",
      nextBeginOffset: next,
      minOffset: base.minOffset,
      maxOffset: base.maxOffset,
      messageCount: 0,
      body: Buffer.alloc(0),
      queueOffsets: [],
    };
  }
  return {
    status: "FOUND",
    nextBeginOffset: next,
    minOffset: base.minOffset,
    maxOffset: base.maxOffset,
    // Read/write splitting judges a pull by how far back its reads went.
    ...(base.lastPhysicalOffset !== undefined ? { lastPhysicalOffset: base.lastPhysicalOffset } : {}),
    messageCount: queueOffsets.length,
    body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes),
    queueOffsets,
  };
}

function hasArrivals(store: Pick<MessageStore, "getMessage"> & Partial<IndexedStore>): store is IndexedStore {
  return typeof store.onMessageArrived === "function" && typeof store.getMaxOffsetInQueue === "function";
}

/**
 * Most queue offsets one indexed pull passes over (16 × MAX_SQL_SCAN). Offsets the bits say
 * do not match are passed by a word-at-a-time bit scan without any read, so this bounds a
 * pull's time far below what MAX_SQL_SCAN evaluations cost; it is at least MAX_SQL_SCAN, so a
 * sparse match never costs a consumer more round trips with the index than without.
 */
export const MAX_INDEXED_SCAN = 16 * MAX_SQL_SCAN;

/**
 * A pull from an offset the match index covers: the bits are scanned to the next offset
 * that matched (nothing read for the ones between), the store reads from there, skipping on
 * the consume queue alone whatever the bits say does not match, and what it returns is
 * evaluated again here: the bits only skip, they never decide what is delivered. Repeats
 * until the wanted count, the byte limit, MAX_INDEXED_SCAN offsets or the end of what the
 * bits cover; an offset past the covered range is left to the next (evaluating) pull.
 */
async function pullIndexed(
  store: Pick<MessageStore, "getMessage">,
  topic: string,
  queueId: number,
  offset: number,
  maxMsgNums: number,
  filter: Sql92Filter,
  maxBytes: number | undefined,
  bits: MatchBits,
): Promise<GetMessageResult> {
  const want = Math.max(1, maxMsgNums);
  const byteLimit = maxBytes ?? Number.POSITIVE_INFINITY;
  const keep = (_tagsCode: number, queueOffset: number) => !bits.covers(queueOffset) || bits.has(queueOffset);
  const props = new RawProperties();
  const parts: Buffer[] = [];
  const queueOffsets: number[] = [];
  let bytes = 0;
  let next = offset;
  let last: GetMessageResult | undefined;
  const limit = offset + MAX_INDEXED_SCAN;
  // Each round reads at least one consume-queue entry and moves `next` forward (guarded).
  for (let round = 0; queueOffsets.length < want && round < MAX_INDEXED_SCAN; round++) {
    // Offsets known not to match are passed without reading the consume queue.
    if (bits.covers(next)) next = bits.nextMatch(next);
    else if (last !== undefined) break; // past the bits: the evaluating pull takes it from here
    // The first read always happens: it carries the queue's bounds and offset checks.
    if (next >= limit && last !== undefined) break;
    const from = next;
    const r = await store.getMessage(
      topic,
      queueId,
      from,
      want - queueOffsets.length,
      keep,
      maxBytes === undefined ? undefined : Math.max(1, maxBytes - bytes),
    );
    if (r.status !== "FOUND") {
      const passing = r.status === "NO_MATCHED_MESSAGE" || r.status === "MESSAGE_WAS_REMOVING";
      // The first read's own answer (offset checks, an empty queue) goes back as it is.
      if (last === undefined && from === offset && !passing) return r;
      last = last === undefined ? r : { ...last, minOffset: r.minOffset, maxOffset: r.maxOffset };
      if (!passing || !(r.nextBeginOffset > from)) break;
      next = r.nextBeginOffset;
      continue;
    }
    last = r;
    let pos = 0;
    let full = false;
    for (let i = 0; i < r.messageCount; i++) {
      const record = new StoredMessage(r.body, pos);
      const size = record.storeSize;
      const queueOffset = r.queueOffsets[i]!;
      props.reset(r.body, record.propertiesStart, pos + size);
      if (filter.matches(props.get)) {
        if (queueOffsets.length > 0 && bytes + size > byteLimit) {
          next = queueOffset;
          full = true;
          break;
        }
        parts.push(r.body.subarray(pos, pos + size));
        queueOffsets.push(queueOffset);
        bytes += size;
      }
      pos += size;
    }
    if (full) break;
    next = r.nextBeginOffset;
  }
  return answer(last!, next, parts, queueOffsets, bytes);
}
