import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "@tidemq/raft";
import { HEARTBEAT_TICKS, ticksPerWakeup } from "../src/dledger/DLedgerNode.js";
import { FrameAssembler, FrameTooLargeError } from "../src/dledger/FrameAssembler.js";
import { encodeFrame } from "../src/dledger/RaftTransport.js";

const base = { from: "n0", to: "n1", term: 2, logTerm: 2, commit: 3, reject: false, rejectHint: 0 };
function app(index: number, bytes: number): Buffer {
  const m: Message = {
    ...base,
    type: "app",
    index: index - 1,
    entries: [{ index, term: 2, type: "normal", data: Buffer.alloc(bytes, index) }],
  };
  return encodeFrame(m);
}

function collect(fa: FrameAssembler, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks)
    fa.push(c, (f) => {
      out.push(f);
      return true;
    });
  return out;
}

// Frames of several sizes (a heartbeat-sized one, one larger than a socket read) cut at every
// split point and into reads of many sizes come out whole, in order, byte for byte.
test("frame assembler: any split of a stream into reads gives back the same frames", () => {
  const frames = [app(1, 10), app(2, 70_000), app(3, 0), app(4, 200_000), app(5, 3)];
  const stream = Buffer.concat(frames);
  const splits = [1, 3, 7, 8, 9, 100, 4096, 65536, stream.length];
  for (const size of splits) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length; at += size) chunks.push(Buffer.from(stream.subarray(at, at + size)));
    const fa = new FrameAssembler(1 << 20);
    const got = collect(fa, chunks);
    assert.equal(got.length, frames.length, `reads of ${size}`);
    for (let i = 0; i < frames.length; i++)
      assert.ok(got[i]!.equals(frames[i]!), `frame ${i}, reads of ${size}`);
    assert.equal(fa.pendingBytes, 0);
  }
  // Every two-way split of the first three frames, including inside the 8-byte prefix.
  const small = Buffer.concat(frames.slice(0, 3));
  for (let at = 1; at < small.length; at += at < 40 ? 1 : 997) {
    const got = collect(new FrameAssembler(1 << 20), [small.subarray(0, at), small.subarray(at)]);
    assert.deepEqual(
      got.map((f) => f.length),
      frames.slice(0, 3).map((f) => f.length),
      `split at ${at}`,
    );
  }
});

test("frame assembler: whole frames in one read are handed out without a copy; a frame over two reads is joined once", () => {
  const a = app(1, 5000);
  const b = app(2, 6000);
  const read = Buffer.concat([a, b]);
  const got = collect(new FrameAssembler(1 << 20), [read]);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.buffer, read.buffer, "a view into the read");
  assert.equal(got[1]!.buffer, read.buffer);
  const big = app(3, 100_000);
  const fa = new FrameAssembler(1 << 20);
  const out = collect(fa, [big.subarray(0, 65536), big.subarray(65536, 70000)]);
  assert.equal(out.length, 0);
  assert.equal(fa.pendingBytes, 70000);
  const last = collect(fa, [big.subarray(70000)]);
  assert.ok(last[0]!.equals(big));
});

test("frame assembler: a frame announcing more than the bound is refused; a false from the callback stops", () => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(1001, 0);
  assert.throws(() => new FrameAssembler(1000).push(head, () => true), FrameTooLargeError);
  // Split inside the length: still refused once the 8 bytes are in.
  const fa = new FrameAssembler(1000);
  fa.push(head.subarray(0, 3), () => true);
  assert.throws(() => fa.push(head.subarray(3), () => true), FrameTooLargeError);
  let n = 0;
  new FrameAssembler(1 << 20).push(Buffer.concat([app(1, 1), app(2, 1)]), () => {
    n++;
    return false;
  });
  assert.equal(n, 1);
});

// Ticks are counted in batches (fewer timer wake-ups) but never more than half a heartbeat
// interval at once, so a leader's heartbeats keep their period; slow ticks are not batched.
test("Raft ticks per timer wake-up: 50 ms worth, at most half a heartbeat interval, at least 1", () => {
  assert.equal(ticksPerWakeup(10), 5);
  assert.equal(ticksPerWakeup(1), HEARTBEAT_TICKS / 2);
  assert.equal(ticksPerWakeup(20), 2);
  assert.equal(ticksPerWakeup(50), 1);
  assert.equal(ticksPerWakeup(1000), 1);
});
