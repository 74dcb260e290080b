/**
 * The de-duplication window's producer runs (ProducerRuns): a key greater than every live key
 * of its producer is entered without touching the table; every other key is looked up in the
 * table and its producer's run. Checked against a plain list model over random key streams
 * with resends, out-of-order arrival, month rollovers, clock steps back, keys of other shapes,
 * several topics, abandoned stores, entries by hash alone, batches, expiry and eviction.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DuplicateWindow, followerMark, hashHi, hashKey, PENDING } from "../src/dedup/DuplicateWindow.js";
import { hashFrom, hashSeqKey, prefixA, prefixB, prefixLanes, seqValueOfLast } from "../src/dedup/KeyHash.js";
import { MAX_RUNS, ProducerRuns } from "../src/dedup/ProducerRuns.js";

function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
}

const hex = (v: number, digits: number) => v.toString(16).toUpperCase().padStart(digits, "0");

test("hashSeqKey and hashFrom after prefixLanes give hashKey's hash; hashSeqKey's value is the last 12 hex digits", () => {
  const rnd = random(7);
  const units = "0123456789ABCDEFabcdef-XZ\u00e9\u4e2d";
  for (let i = 0; i < 5000; i++) {
    const len = i % 3 === 0 ? 32 : rnd(40);
    const hexOnly = i % 2 === 0;
    let key = "";
    for (let k = 0; k < len; k++) key += units[rnd(hexOnly ? 16 : units.length)];
    const topic = `T${rnd(5)}`;
    const lo = hashKey(topic, key);
    const hi = hashHi();
    for (let at = 0; at + 5 <= len; at += 4) {
      prefixLanes(topic, key, at);
      assert.equal(hashFrom(prefixA, prefixB, key, at), lo, `${key} from ${at}`);
      assert.equal(hashHi(), hi);
    }
    if (len === 32) {
      prefixLanes(topic, key, 20);
      assert.equal(hashSeqKey(prefixA, prefixB, key), lo, key);
      assert.equal(hashHi(), hi);
      if (hexOnly) assert.equal(seqValueOfLast(), Number.parseInt(key.slice(20), 16), key);
    }
  }
});

test("classify and next hash a 32-unit key as hashKey does, and take its value as hashSeqKey does (their copies of that body)", () => {
  const rnd = random(11);
  const units = "0123456789ABCDEFabcdef-XZ\u00e9\u4e2d";
  let runs = new ProducerRuns();
  for (let i = 0; i < 5000; i++) {
    // A few prefixes (so the keys find runs), any units after them.
    if (i % 500 === 0) runs = new ProducerRuns();
    let key = hex(rnd(4), 20);
    const hexOnly = i % 2 === 0;
    for (let k = 20; k < 32; k++) key += units[rnd(hexOnly ? 16 : units.length)];
    const topic = `T${rnd(3)}`;
    runs.classify(topic, key, 0, 0);
    assert.equal(runs.lo, hashKey(topic, key), key);
    assert.equal(runs.hi, hashHi(), key);
    assert.ok(runs.runOf !== undefined, key);
    prefixLanes(topic, key, 20);
    hashSeqKey(prefixA, prefixB, key);
    const value = seqValueOfLast();
    assert.equal(runs.value, value, key);
    // next(), a batch's later keys, has its own copy: the same words and value.
    const run = runs.runOf!;
    runs.lo = 0;
    runs.hi = 0;
    assert.equal(runs.next(run, topic, key, -1), true, key);
    assert.equal(runs.lo, hashKey(topic, key), key);
    assert.equal(runs.hi, hashHi(), key);
    assert.equal(runs.value, value, key);
  }
});

/** A producer making keys as createUniqId does: prefix · ms since the month began · counter. */
class Producer {
  time = 0;
  counter = 0;
  constructor(readonly prefix: string) {}
  next(rnd: (n: number) => number): string {
    this.time += rnd(3);
    this.counter = (this.counter + 1) & 0xffff;
    return this.prefix + hex(this.time, 8) + hex(this.counter, 4);
  }
}

interface Entry {
  seq: number;
  topic: string;
  key: string;
  at: number;
  state: number; // PENDING, an offset, or -2 (abandoned)
  /** A batch's later message entered as a follower: its state is its lead's while that is live. */
  lead?: Entry;
}

test("producer runs: random key streams agree with a list model (resends, out of order, rollovers, shapes, batches)", () => {
  for (const [maxEntries, windowMs, seed] of [
    [3, 40, 1],
    [50, 40, 2],
    [500, 400, 3],
    [4000, 100_000, 4],
  ] as const) {
    const rnd = random(seed);
    const w = new DuplicateWindow({ windowMs, maxEntries });
    const model: Entry[] = [];
    const producers = Array.from(
      { length: 4 },
      (_, i) => new Producer(`C0A8010${i}1F2A3B4C5D6E`.slice(0, 20)),
    );
    const sent: Array<[string, string]> = [];
    let now = 0;
    let offset = 0;
    let hashOnly = false;
    let followers = 0;
    const stateOf = (e: Entry) =>
      e.lead === undefined ? e.state : model.includes(e.lead) ? e.lead.state : -2;
    const find = (topic: string, key: string, young: number) =>
      model.find(
        (e) =>
          e.topic === topic &&
          e.key === key &&
          now - e.at <= windowMs &&
          stateOf(e) !== -2 &&
          (e.seq - w.tailSeq) >>> 0 < (young - w.tailSeq) >>> 0,
      );
    const enter = (seq: number, topic: string, key: string, state = PENDING, lead?: Entry) => {
      if (model.length === maxEntries) model.shift();
      model.push({ seq, topic, key, at: now, state, lead });
      sent.push([topic, key]);
    };
    const keyOf = (): [string, string] => {
      const topic = rnd(5) === 0 ? "Other" : "T";
      const r = rnd(100);
      const p = producers[rnd(producers.length)]!;
      if (r < 60) return [topic, p.next(rnd)];
      if (r < 75 && sent.length > 0) return sent[sent.length - 1 - rnd(Math.min(sent.length, 30))]!; // a resend
      if (r < 80) {
        // Out of order: an older key of this producer that may never have been sent.
        const back = rnd(5) + 1;
        return [topic, p.prefix + hex(Math.max(0, p.time - back), 8) + hex((p.counter - back) & 0xffff, 4)];
      }
      if (r < 82 && rnd(20) === 0) {
        p.time = rnd(50); // a month rollover or a clock step back
        return [topic, p.next(rnd)];
      }
      if (r < 85) return [topic, p.next(rnd).toLowerCase()];
      if (r < 88) return [topic, `short-${rnd(40)}`];
      return [topic, p.next(rnd)];
    };
    for (let step = 0; step < 30_000; step++) {
      now += rnd(2);
      const op = rnd(100);
      if (op < 70) {
        // A single send: a match answers with the oldest live entry, else the key is entered.
        const [topic, key] = keyOf();
        const want = find(topic, key, w.headSeq);
        const r = w.admitUniq(topic, key, now, w.headSeq, PENDING);
        if (want) assert.equal(r, -1 - want.seq, `step ${step}: ${topic}/${key} is a resend`);
        else {
          assert.ok(r >= 0, `step ${step}: ${topic}/${key} is new (got ${r})`);
          enter(r, topic, key);
        }
      } else if (op < 76) {
        // A batch: its own entries (from young on) never answer, even for a key in it twice.
        // (One over half the window is entered one by one by the detector: not here.)
        const young = w.headSeq;
        const n = 1 + rnd(Math.min(4, Math.floor(maxEntries / 2)));
        const keys: Array<[string, string]> = [];
        for (let i = 0; i < n; i++) keys.push(i > 0 && rnd(4) === 0 ? keys[0]! : keyOf());
        for (const [topic, key] of keys) {
          const want = find(topic, key, young);
          const r = w.admitUniq(topic, key, now, young, PENDING);
          if (want) {
            assert.equal(r, -1 - want.seq, `step ${step}: batch ${topic}/${key}`);
            break;
          }
          assert.ok(r >= 0, `step ${step}: batch ${topic}/${key} is new`);
          enter(r, topic, key);
        }
      } else if (op < 80) {
        // A batch as the detector admits it: its first message by admitUniq, then what
        // follows in its producer's order by admitFollowers, the rest by admitUniq again —
        // mostly one producer's next keys, now and then any key (a resend, out of order,
        // another topic or shape, another producer). Later messages are followers.
        const young = w.headSeq;
        const n = 1 + rnd(Math.min(8, Math.floor(maxEntries / 2)));
        const p = producers[rnd(producers.length)]!;
        const topic = rnd(5) === 0 ? "Other" : "T";
        const batch: Array<{ topic: string; uniqKey: string }> = [];
        for (let i = 0; i < n; i++) {
          const [t, k] = rnd(6) === 0 ? keyOf() : [topic, p.next(rnd)];
          batch.push({ topic: t, uniqKey: k });
        }
        let lead: Entry | undefined;
        for (let i = 0; i < n; ) {
          const { topic: t, uniqKey: k } = batch[i]!;
          const want = find(t, k, young);
          const r = w.admitUniq(t, k, now, young, i === 0 ? PENDING : followerMark(i));
          if (want) {
            assert.equal(r, -1 - want.seq, `step ${step}: batch message ${i} ${t}/${k}`);
            break;
          }
          assert.ok(r >= 0, `step ${step}: batch message ${i} ${t}/${k} is new`);
          enter(r, t, k, PENDING, lead);
          if (i === 0) lead = model.at(-1);
          const to = w.admitFollowers(batch, i + 1, now);
          for (let j = i + 1; j < to; j++) {
            const f = batch[j]!;
            assert.equal(find(f.topic, f.uniqKey, young), undefined, `step ${step}: follower ${j} is new`);
            enter((r + j - i) >>> 0, f.topic, f.uniqKey, PENDING, lead);
          }
          assert.equal(w.headSeq, (young + to) >>> 0, `step ${step}: followers entered`);
          followers += to - i - 1;
          i = to;
        }
      } else if (op < 84) {
        // A store ends: stored at an offset, or failed (never an answer). A follower settled
        // alone (a resend's store) is its own entry from then on.
        const e = model[rnd(model.length || 1)];
        if (e && stateOf(e) === PENDING) {
          const failed = rnd(5) === 0;
          offset += 100;
          e.state = failed ? -2 : offset;
          e.lead = undefined;
          w.settle(e.seq, failed ? -1 : offset);
        }
      } else if (op < 90) {
        const [topic, key] = keyOf();
        const want = find(topic, key, w.headSeq);
        assert.equal(
          w.lookupUniq(topic, key, now),
          want ? want.seq : -1,
          `step ${step}: lookup ${topic}/${key}`,
        );
      } else if (op < 93) {
        // Entered without a lookup (an unconfirmed match stores itself).
        const [topic, key] = keyOf();
        enter(w.reserveUniq(topic, key, now), topic, key);
      } else if (op < 94 && step < 3000) {
        // By hash alone (a snapshot's entry): no key takes the fast path while it is live.
        const [topic, key] = keyOf();
        offset += 100;
        enter(w.add(hashKey(topic, key), hashHi(), offset, now), topic, key, offset);
        hashOnly = true;
      } else {
        let gone = 0;
        while (model.length > 0 && now - model[0]!.at > windowMs) {
          model.shift();
          gone++;
        }
        assert.equal(w.expire(now), gone, `step ${step}: expire`);
      }
      assert.equal(w.size, model.length);
    }
    // The fast path was taken (most keys are new and in order), so the model checked it.
    assert.ok(w.runs.fastEntries > 3000, `${w.runs.fastEntries} fast entries`);
    assert.ok(hashOnly);
    if (maxEntries >= 50) assert.ok(followers > 500, `${followers} followers by admitFollowers`);
  }
});

test("producer runs: past MAX_RUNS producers, new ones take the table path and stay exact", () => {
  const w = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 3 * MAX_RUNS });
  const keys: string[] = [];
  for (let p = 0; p < MAX_RUNS + 50; p++) {
    const key = `${hex(p, 20)}${hex(1, 8)}0001`;
    keys.push(key);
    assert.ok(w.admitUniq("T", key, 1, w.headSeq, PENDING) >= 0);
  }
  assert.equal(w.runs.size, MAX_RUNS);
  // A later key of a producer without a run; then every earlier one is still found.
  const late = `${hex(MAX_RUNS + 10, 20)}${hex(2, 8)}0001`;
  const seq = w.admitUniq("T", late, 1, w.headSeq, PENDING);
  assert.ok(seq >= 0);
  for (const [i, key] of keys.entries())
    assert.equal(w.admitUniq("T", key, 1, w.headSeq, PENDING), -1 - i, key);
  assert.equal(w.admitUniq("T", late, 1, w.headSeq, PENDING), -1 - seq);
});

test("producer runs: a key below its producer's newest is looked up, in its run and the table, whatever entered since", () => {
  const w = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 100 });
  const p = "C0A801021F2A3B4C5D6E";
  const key = (t: number, c: number) => p + hex(t, 8) + hex(c, 4);
  const admit = (k: string) => w.admitUniq("T", k, 1, w.headSeq, PENDING);
  const fast0 = w.runs.fastEntries;
  const s1 = admit(key(10, 1));
  const s2 = admit(key(10, 2));
  const s3 = admit(key(11, 3));
  assert.equal(w.runs.fastEntries - fast0, 3, "new keys in order: no table bucket");
  const late = admit(key(10, 0)); // arrived out of order: the table
  assert.ok(late >= 0);
  assert.equal(w.runs.fastEntries - fast0, 3);
  assert.equal(admit(key(10, 2)), -1 - s2, "a resend below the newest, after an out-of-order key");
  assert.equal(admit(key(10, 1)), -1 - s1);
  assert.equal(admit(key(11, 3)), -1 - s3, "the newest itself");
  assert.equal(admit(key(10, 0)), -1 - late, "the out-of-order key, from the table");
  // A rollover (the month's ms start again): table path, still exact, and the old keys answer.
  const r1 = admit(key(0, 4));
  assert.ok(r1 >= 0);
  assert.equal(admit(key(0, 4)), -1 - r1);
  assert.equal(admit(key(11, 3)), -1 - s3);
  assert.equal(w.lookupUniq("T", key(10, 1), 1), s1);
  assert.equal(w.lookupUniq("T", key(12, 9), 1), -1);
  // The same key under another topic is another message.
  assert.ok(w.admitUniq("U", key(10, 2), 1, w.headSeq, PENDING) >= 0);
  // An abandoned store never answers: the resend is entered again.
  w.settle(s3, -1);
  const again = admit(key(11, 3));
  assert.ok(again >= 0);
  assert.equal(admit(key(11, 3)), -1 - again);
});

test("producer runs: an entry by hash alone (a snapshot's) turns the fast path off until it leaves the window", () => {
  const w = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 8 });
  const p = "C0A801031F2A3B4C5D6E";
  const key = (c: number) => p + hex(7, 8) + hex(c, 4);
  const admit = (k: string) => w.admitUniq("T", k, 1, w.headSeq, PENDING);
  const loaded = w.add(hashKey("T", key(5)), hashHi(), 4096, 1);
  assert.ok(admit(key(1)) >= 0);
  // key(5) is greater than every key its producer's run has seen, but the loaded entry is live.
  assert.equal(admit(key(5)), -1 - loaded);
  assert.equal(w.runs.fastEntries, 0);
  for (let c = 6; c < 6 + 7; c++) assert.ok(admit(key(c)) >= 0); // the 7th evicts the loaded entry
  assert.equal(w.runs.fastEntries, 0);
  assert.ok(admit(key(13)) >= 0);
  assert.ok(w.runs.fastEntries > 0, "the fast path is back once it left");
  const before = w.runs.fastEntries;
  assert.ok(admit(key(20)) >= 0);
  assert.equal(w.runs.fastEntries, before + 1);
});

test("producer runs: runs of producers with no live entry are swept, and new producers get runs again", () => {
  const w = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 64 });
  const seqs: number[] = [];
  const key = (p: number, c: number) => `${hex(p * 7919, 20)}${hex(3, 8)}${hex(c, 4)}`;
  for (let p = 0; p < 3 * MAX_RUNS; p++) {
    const seq = w.admitUniq("T", key(p, 1), 1, w.headSeq, PENDING);
    assert.ok(seq >= 0, `producer ${p}`);
    seqs.push(seq);
    assert.ok(w.runs.size <= MAX_RUNS);
  }
  // Every key still in the window answers; every one that left is stored again (new).
  for (let p = 3 * MAX_RUNS - 40; p < 3 * MAX_RUNS; p++) {
    assert.equal(w.admitUniq("T", key(p, 1), 1, w.headSeq, PENDING), -1 - seqs[p]!, `resend of ${p}`);
  }
  const fast = w.runs.fastEntries;
  assert.ok(w.admitUniq("T", key(3 * MAX_RUNS - 1, 2), 1, w.headSeq, PENDING) >= 0);
  assert.equal(w.runs.fastEntries, fast + 1, "a producer with a run takes the fast path");
  assert.ok(fast > 2 * MAX_RUNS, `${fast}: swept runs made room for new producers`);
});

test("producer runs: a producer gone from the window holds no memory after expire(); a slower one gives memory back", () => {
  const w = new DuplicateWindow({ windowMs: 100, maxEntries: 4000 });
  const key = (p: number, c: number) => `${hex(p, 20)}${hex(c >>> 16, 8)}${hex(c & 0xffff, 4)}`;
  for (let c = 0; c < 3000; c++) assert.ok(w.admitUniq("T", key(1, c), 0, w.headSeq, PENDING) >= 0);
  const full = w.runs.bytes;
  assert.ok(full >= 3000 * 12, `${full} bytes for 3,000 fast entries`);
  // The first producer's keys age out while a second one sends a few.
  for (let c = 0; c < 10; c++) assert.ok(w.admitUniq("T", key(2, c), 150, w.headSeq, PENDING) >= 0);
  assert.equal(w.expire(150), 3000);
  assert.equal(w.runs.size, 1, "the first producer's run went with its last entry");
  assert.ok(w.runs.bytes < 2048, `${w.runs.bytes} bytes left`);
  // Its keys are new again (and nothing else answers for them).
  assert.ok(w.admitUniq("T", key(1, 5), 151, w.headSeq, PENDING) >= 0);
  // A producer whose live entries shrink: its run's arrays shrink with them.
  for (let c = 0; c < 3000; c++) assert.ok(w.admitUniq("T", key(3, c), 200, w.headSeq, PENDING) >= 0);
  for (let c = 3000; c < 3010; c++) assert.ok(w.admitUniq("T", key(3, c), 350, w.headSeq, PENDING) >= 0);
  w.expire(350);
  assert.equal(w.size, 10);
  assert.ok(w.runs.bytes < 4096, `${w.runs.bytes} bytes for 10 live entries`);
  assert.equal(w.admitUniq("T", key(3, 3005), 350, w.headSeq, PENDING), -1 - (w.headSeq - 5));
});
