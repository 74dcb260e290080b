import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FrameDecoder,
  FrameError,
  SerializeType,
  createRequest,
  createResponse,
  encodeFrame,
  isResponse,
} from "../src/index.js";

test("a JSON request round-trips through encodeFrame and FrameDecoder", () => {
  const req = createRequest(105, { topic: "TopicTest" });
  req.opaque = 7;
  const frames = new FrameDecoder().push(encodeFrame(req));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.code, 105);
  assert.equal(frames[0]!.opaque, 7);
  assert.deepEqual(frames[0]!.extFields, { topic: "TopicTest" });
});

test("a response keeps its request's binary serialization", () => {
  const req = createRequest(11, { a: 1 }, Buffer.from("x"), { serializeType: SerializeType.ROCKETMQ });
  req.opaque = 3;
  const res = createResponse(req, 0, "ok", { nextBeginOffset: 5 });
  const [decoded] = new FrameDecoder().push(encodeFrame(res));
  assert.equal(decoded!.serializeType, SerializeType.ROCKETMQ);
  assert.ok(isResponse(decoded!));
  assert.equal(decoded!.remark, "ok");
  assert.deepEqual(decoded!.extFields, { nextBeginOffset: "5" });
});

test("a 2 GiB length is rejected with a FrameError", () => {
  const bad = Buffer.alloc(8);
  bad.writeUInt32BE(0x7fffffff, 0);
  assert.throws(() => new FrameDecoder().push(bad), FrameError);
});
