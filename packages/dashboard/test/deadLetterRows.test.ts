/** Dead-letter rows, CSV and page ranges: the pure parts of the Dead letters page. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bodyForExport, csvCell, pageRanges, toCsv } from "../src/DeadLetterRows.js";

test("pageRanges: a page spans queues one after the other, exactly, and past the end is empty", () => {
  const q = [
    { name: "a", minOffset: 10, maxOffset: 15 }, // 5
    { name: "b", minOffset: 0, maxOffset: 0 }, // empty
    { name: "c", minOffset: 3, maxOffset: 10 }, // 7
  ];
  const show = (start: number, size: number) =>
    pageRanges(q, start, size).map((r) => `${r.queue.name}:${r.from}-${r.to}`);
  assert.deepEqual(show(0, 3), ["a:10-13"]);
  assert.deepEqual(show(3, 4), ["a:13-15", "c:3-5"]);
  assert.deepEqual(show(5, 50), ["c:3-10"]);
  assert.deepEqual(show(11, 5), ["c:9-10"]);
  assert.deepEqual(show(12, 5), []);
  assert.deepEqual(show(0, 0), []);
  const total = pageRanges(q, 0, 100).reduce((s, r) => s + r.to - r.from, 0);
  assert.equal(total, 12);
});

test("CSV: quotes what needs quoting, defuses formulas, CRLF lines; bodies as text or base64", () => {
  assert.equal(csvCell("plain"), "plain");
  assert.equal(csvCell('say "hi", ok'), '"say ""hi"", ok"');
  assert.equal(csvCell("two\nlines"), '"two\nlines"');
  assert.equal(csvCell("=SUM(A1)"), "'=SUM(A1)");
  assert.equal(csvCell(undefined), "");
  assert.equal(csvCell(42), "42");
  const rows = [
    { id: "x", body: "a,b" },
    { id: "y", body: "" },
  ];
  assert.equal(toCsv(["id", "body"], rows), 'id,body\r\nx,"a,b"\r\ny,\r\n');
  assert.deepEqual(bodyForExport(Buffer.from("héllo")), { body: "héllo", bodyEncoding: "utf8" });
  assert.deepEqual(bodyForExport(Buffer.from([0xff, 0x00, 0xfe])), { body: "/wD+", bodyEncoding: "base64" });
});
