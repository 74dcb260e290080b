import assert from "node:assert/strict";
import { test } from "node:test";
import { parseProperties } from "../src/bodies.js";

test("parseProperties reads GET_BROKER_CONFIG's properties text", () => {
  assert.deepEqual(parseProperties("# c\na=1\nb = x=y\n\nc\n"), { a: "1", b: "x=y", c: "" });
});
