/**
 * HalfInput builds a SEND_HALF_BATCH entry's store input in one pass: it must be the very
 * input (and HalfFacts) the full send path builds for the same half — SendInputBuilder.single
 * then halfMessage's re-addressing — and it must leave to that path (undefined) every entry
 * the path would refuse or treat differently (not a half, a delay or timer, a bad queue, a
 * body over the limit), so that behaviour is decided in one place.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type HalfBatchEntry,
  parseProperties,
  type RemotingCommand,
  RequestCode,
  type SendMessageRequestHeader,
  type TopicConfig,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import { RecordCopy } from "@tidemq/store";
import fc from "fast-check";
import type { BrokerContext } from "../src/context.js";
import { loadBrokerConfig } from "../src/loadBrokerConfig.js";
import { SendInputBuilder } from "../src/processors/SendInputBuilder.js";
import { type HalfTopic, halfInputOf } from "../src/transaction/HalfInput.js";
import { type HalfFacts, halfMessage } from "../src/transaction/HalfMessage.js";
import { RecentHalves } from "../src/transaction/RecentHalves.js";
import { commitCopyOf, copyRecord } from "../src/transaction/TransactionRecords.js";

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/);
const value = fc.string({ maxLength: 12, unit: "grapheme" }).filter((v) => !/[\u0001\u0002]/.test(v));
const known = fc.constantFrom(
  "TAGS",
  "KEYS",
  "UNIQ_KEY",
  "PGROUP",
  "TRAN_MSG",
  "CHECK_IMMUNITY_TIME_IN_SECONDS",
  "WAIT",
  "CLUSTER",
  "DELAY",
  "TIMER_DELIVER_MS",
  "__STARTDELIVERTIME",
  "TRAN_MS",
  "XWAIT",
  "REAL_TOPIC",
  "REAL_QID",
);
/** A pair as a producer may send it: a known or random name (repeats allowed), maybe no value. */
const pair = fc.oneof(
  fc.tuple(fc.oneof(known, name), value).map(([n, v]) => `${n}\u0001${v}`),
  fc.constantFrom(
    "TRAN_MSG\u0001true",
    "TRAN_MSG\u0001true",
    "WAIT\u0001true",
    "PGROUP\u0001G",
    "PGROUP\u0001PG",
    "",
    "NOVALUE",
    "\u0001x",
  ),
);

test("a half built from its entry = the send path's input and facts for it; anything else is left to that path", async () => {
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: { storePathRootDir: "/tmp/unused", maxMessageSize: 64, brokerClusterName: "C1" },
  });
  const builder = new SendInputBuilder({ config } as unknown as BrokerContext);
  const conn = { remoteAddress: "127.0.0.1", remotePort: 4242 } as unknown as Connection;
  let built = 0;
  let left = 0;
  let suffixed = 0;
  let noted = 0;
  fc.assert(
    fc.property(
      fc.array(pair, { maxLength: 8 }),
      fc.boolean(),
      fc.constantFrom(0, 4, 8, 12, 6, 1, 4 | 64),
      fc.integer({ min: -1, max: 9 }),
      fc.integer({ min: 0, max: 70 }),
      fc.boolean(),
      fc.constantFrom("", "PG"),
      (pairs, unterminated, sysFlag, queueId, bodyLen, multiTag, ownGroup) => {
        let text = pairs.map((p) => `${p}\u0002`).join("");
        if (unterminated && text.length > 0) text = text.slice(0, -1);
        const entry: HalfBatchEntry = {
          topic: "RealTopic",
          queueId,
          sysFlag,
          bornTimestamp: 1_700_000_000_123,
          flag: 5,
          properties: text,
          body: Buffer.alloc(bodyLen, 1),
        };
        const topic: HalfTopic = {
          topicName: "RealTopic",
          queueMax: 8,
          multiTag,
          suffixes: [],
          cluster: undefined,
        };
        const producerGroup = ownGroup || "ReqGroup";
        const facts: Array<HalfFacts | undefined> = [];
        const base = {
          producerGroup,
          bornHost: builder.bornHostOf(conn),
          cluster: builder.clusterPair(),
          maxMessageSize: 64,
        };
        const fast = halfInputOf(entry, topic, base, facts, 0);

        // The full path for the same entry, as HalfBatch sends an entry it does not build.
        const header: SendMessageRequestHeader = {
          producerGroup,
          topic: "RealTopic",
          defaultTopic: "TBW102",
          defaultTopicQueueNums: 4,
          queueId,
          sysFlag,
          bornTimestamp: entry.bornTimestamp,
          flag: entry.flag,
          properties: text === "" ? undefined : text,
        };
        const request = { code: RequestCode.SEND_MESSAGE_V2, body: entry.body } as RemotingCommand;
        const topicConfig = {
          topicName: "RealTopic",
          readQueueNums: 8,
          writeQueueNums: 8,
          perm: 6,
          topicFilterType: multiTag ? "MULTI_TAG" : "SINGLE_TAG",
        } as TopicConfig;
        let slow: ReturnType<typeof builder.single> | undefined;
        let refused: unknown;
        try {
          slow =
            queueId < 0 || queueId >= 8
              ? undefined
              : halfMessage(header, false, () => builder.single(request, header, conn, topicConfig, queueId));
        } catch (err) {
          refused = err;
        }
        if (fast === undefined) {
          left++;
          // Left to the full path only for what that path decides itself.
          const delayish = text.includes("DELAY") || text.includes("TIMER_") || text.includes("__START");
          assert.ok(
            slow === undefined || refused !== undefined || delayish || bodyLen > 64,
            `left to the full path without a reason: ${JSON.stringify(text)} sysFlag ${sysFlag} queue ${queueId}`,
          );
          return;
        }
        built++;
        assert.equal(refused, undefined, `the full path refuses what was built: ${String(refused)}`);
        assert.ok(slow, "the full path does not take it as a half");
        const want = slow.inputs[0]!;
        const { encodedProperties: fp, encodedPropertiesSuffix: fs, ...fastRest } = fast;
        const { encodedProperties: sp, encodedPropertiesSuffix: ss, ...slowRest } = want;
        assert.deepEqual(fastRest, slowRest);
        // The very same stored properties (with PGROUP sent, what the broker adds is a cached suffix).
        const { commitSuffix, discardSuffix, cutFrom, cutTo, ...fastFacts } = facts[0]!;
        const { commitSuffix: _c, discardSuffix: _d, cutFrom: _f, cutTo: _t, ...slowFacts } = slow.halfFacts!;
        assert.equal(_f, -1);
        assert.equal(_t, -1);
        // The pair a commit copy cuts is noted only when it is the only one, and it is that pair.
        const stored = String(fp);
        const trans = [...stored.matchAll(/(?<=^|\u0002)TRAN_MSG\u0001[^\u0002]*\u0002?/g)];
        const real = /(^|\u0002)(REAL_TOPIC|REAL_QID)\u0001/.test(stored);
        if (cutFrom >= 0) {
          assert.ok(
            commitSuffix !== undefined && !real && trans.length <= 1,
            JSON.stringify({ stored, text, cutFrom, n: trans.length, real }),
          );
          if (trans.length === 1) assert.equal(stored.slice(cutFrom, cutTo), trans[0]![0]);
          else assert.equal(cutFrom, cutTo);
        } else {
          assert.equal(cutTo, -1);
          assert.ok(
            commitSuffix === undefined || real || trans.length > 1 || stored !== text,
            JSON.stringify({ stored, text, cutFrom, n: trans.length, real }),
          );
        }
        const fastText = `${fp}${fs?.toString("utf8") ?? ""}`;
        const slowText = `${sp}${ss?.toString("utf8") ?? ""}`;
        assert.equal(fastText, slowText);
        assert.deepEqual(parseProperties(fastText), parseProperties(slowText));
        assert.deepEqual(fastFacts, slowFacts);
        assert.equal(_c, undefined);
        assert.equal(_d, undefined);
        // Their commit and discard copies are the same records, byte for byte.
        for (const decision of ["commit", "discard"] as const) {
          const copies: Array<{ rest: object; text: string }> = [fast, want].map((m, k) => {
            const recent = new RecentHalves();
            recent.storedAt(m, 3, "7F00000100002A9F0000000000000100", 9, k === 0 ? facts[0] : slow.halfFacts);
            const rec = recent.take(3, 256);
            assert.ok(rec);
            const c = copyRecord(rec, decision);
            const { encodedProperties, encodedPropertiesSuffix, ...rest } = c;
            return { rest, text: `${encodedProperties}${encodedPropertiesSuffix?.toString("utf8") ?? ""}` };
          });
          assert.deepEqual(copies[0], copies[1], decision);
        }
        // The commit copy's spliced ranges: the same with the noted cut as with the search for
        // pairs to cut.
        const keptOf = (f: HalfFacts) => {
          const recent = new RecentHalves();
          recent.storedAt(fast, 3, "7F00000100002A9F0000000000000100", 9, f);
          const copy = commitCopyOf(recent.take(3, 256)!);
          assert.ok(copy instanceof RecordCopy);
          return copy.keep;
        };
        if (cutFrom >= 0) {
          assert.deepEqual(keptOf(facts[0]!), keptOf({ ...facts[0]!, cutFrom: -1, cutTo: -1 }));
          noted++;
        }
        if (commitSuffix) suffixed++;
      },
    ),
    { numRuns: 3000 },
  );
  // Both sides of the property were exercised.
  assert.ok(
    built > 300 && left > 300 && suffixed > 100 && built - suffixed > 100 && noted > 50,
    `built ${built} (${suffixed} with the cached suffix, ${noted} with the cut noted), left ${left}`,
  );
});
