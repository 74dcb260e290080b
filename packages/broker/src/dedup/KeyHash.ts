/**
 * The 64-bit hash of (topic, UNIQ_KEY) that the de-duplication window files keys under, and
 * its two halves: the lanes after a key's first units (a producer's fixed prefix, cached per
 * producer by ProducerRuns) and the rest, so a producer's sends hash only the part of the key
 * that changes. hashKey(topic, key) === hashFrom(lanes of (topic, key's first 4k units), key, 4k)
 * for every split the lanes can make (tested): the snapshot on disk holds these hashes.
 */

/** The high word of the last hash: the hash is two 32-bit words, returned without allocating. */
let lastHi = 0;

/** murmur3's finaliser: every input bit flips about half the output bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// The topic's lanes, for the last topic hashed: a broker's sends mostly repeat a few topics
// (the same TopicConfig string), so the topic is hashed once, not per send.
let topicFor: string | undefined;
let topicA = 0;
let topicB = 0;

function hashTopic(topic: string): void {
  let a = 0x9747b28c ^ topic.length;
  let b = 0x5bd1e995;
  for (let i = 0; i < topic.length; i++) {
    a = Math.imul(a ^ topic.charCodeAt(i), 0x01000193);
    b = Math.imul(b + topic.charCodeAt(i), 0x2c1b3c6d);
  }
  topicA = fmix32(a);
  topicB = fmix32(b ^ 0x1ff);
  topicFor = topic;
}

/** A hex digit's value (any other character: some value below 32, still deterministic). */
export function hexValue(c: number): number {
  return (c & 15) + 9 * ((c >>> 6) & 1);
}

/**
 * 64-bit hash of (topic, uniqKey): returns the low word; `hashHi()` gives the high word.
 *
 * The key's last two characters are not hashed into the low word's bottom byte: that byte
 * IS their hex value, and the window places a key `that many buckets` after the home of the
 * rest (see DuplicateWindow.home). A UNIQ_KEY (Java's MessageClientIDSetter, our
 * createUniqId) ends in a per-process counter, so a producer's consecutive sends land in
 * consecutive buckets — one DRAM page and TLB entry per 64 sends, a stream the CPU
 * prefetches — instead of one random cache and TLB miss per send (which was ~90 % of the
 * window's cost, measured). Keys of any other shape still spread evenly; only placement
 * changes, never the answer (a match is confirmed).
 *
 * The rest: two 32-bit lanes over the key's UTF-16 units but the last two, four units per
 * step (two per lane; a UNIQ_KEY is 32 hex digits: 7 steps and 2 single units), seeded by
 * the topic's lanes; the last two units are mixed into the high word as well.
 */
export function hashKey(topic: string, uniqKey: string): number {
  if (topic !== topicFor) hashTopic(topic);
  return hashFrom(topicA, topicB, uniqKey, 0);
}

/** Lane a after prefixLanes(). */
export let prefixA = 0;
/** Lane b after prefixLanes(). */
export let prefixB = 0;

/**
 * The lanes of (topic, uniqKey's first `units` units) into prefixA / prefixB: where
 * hashFrom(prefixA, prefixB, key, units) continues, for any key with those first units.
 * `units` is a multiple of 4 and at most the key's length - 5 (inside the four-unit steps).
 */
export function prefixLanes(topic: string, uniqKey: string, units: number): void {
  if (topic !== topicFor) hashTopic(topic);
  let a = topicA;
  let b = topicB;
  for (let i = 0; i < units; i += 4) {
    const s = step(a, b, uniqKey, i);
    a = s;
    b = laneB;
  }
  prefixA = a;
  prefixB = b;
}

let laneB = 0;

/** One four-unit step of both lanes from unit i: returns lane a, laneB gets lane b. */
function step(a: number, b: number, uniqKey: string, i: number): number {
  let k = Math.imul(uniqKey.charCodeAt(i) | (uniqKey.charCodeAt(i + 1) << 16), 0xcc9e2d51);
  let j = Math.imul(uniqKey.charCodeAt(i + 2) | (uniqKey.charCodeAt(i + 3) << 16), 0x1b873593);
  k = (k << 15) | (k >>> 17);
  j = (j << 17) | (j >>> 15);
  laneB = (Math.imul(((b ^ j) << 15) | ((b ^ j) >>> 17), 5) + 0x561ccd1b) | 0;
  return (Math.imul(((a ^ k) << 13) | ((a ^ k) >>> 19), 5) + 0xe6546b64) | 0;
}

/** hashKey's work from unit `from` (a multiple of 4) with lanes (a, b) for the units before it. */
export function hashFrom(a: number, b: number, uniqKey: string, from: number): number {
  const n = uniqKey.length;
  const m = n >= 2 ? n - 2 : n; // units hashed into the lanes
  let i = from;
  for (; i + 3 < m; i += 4) {
    let k = Math.imul(uniqKey.charCodeAt(i) | (uniqKey.charCodeAt(i + 1) << 16), 0xcc9e2d51);
    let j = Math.imul(uniqKey.charCodeAt(i + 2) | (uniqKey.charCodeAt(i + 3) << 16), 0x1b873593);
    k = (k << 15) | (k >>> 17);
    j = (j << 17) | (j >>> 15);
    a = (Math.imul(((a ^ k) << 13) | ((a ^ k) >>> 19), 5) + 0xe6546b64) | 0;
    b = (Math.imul(((b ^ j) << 15) | ((b ^ j) >>> 17), 5) + 0x561ccd1b) | 0;
  }
  for (; i < m; i++) {
    a = Math.imul(a ^ uniqKey.charCodeAt(i), 0xcc9e2d51);
    b = Math.imul(b + uniqKey.charCodeAt(i), 0x1b873593);
  }
  a ^= n;
  b ^= n;
  // The rest's place, before the last two units enter the high word's lane.
  const place = fmix32((a + Math.imul(b, 0x165667b1)) | 0) & 0xffffff00;
  let stepByte = 0;
  if (m < n) {
    const c1 = uniqKey.charCodeAt(n - 2);
    const c2 = uniqKey.charCodeAt(n - 1);
    stepByte = ((hexValue(c1) << 4) | hexValue(c2)) & 0xff;
    // The units themselves (not only their hex value) decide the high word.
    b = Math.imul(b ^ (c1 | (c2 << 16)), 0x2c1b3c6d);
  }
  lastHi = fmix32((b + Math.imul(a, 0x27d4eb2f)) | 0);
  return (place | stepByte) >>> 0;
}

/** High word of the last hashKey() / hashFrom(). */
export function hashHi(): number {
  return lastHi;
}

/** The (time, counter) value of the key hashSeqKey() just hashed, or -1 (not 12 uppercase hex digits). */
let lastValue = -1;

/** The value of the last hashSeqKey(). */
export function seqValueOfLast(): number {
  return lastValue;
}

/**
 * hashFrom(a, b, key, 20) for a 32-unit key, reading each of units 20..31 once, which also
 * gives their value as 12 hex digits (seqValueOfLast: ms since the month began and counter,
 * in a client's UNIQ_KEY). The send path's hash: a producer's prefix lanes are cached.
 * ProducerRuns.classify holds a copy of this body (see there why); they must stay the same
 * (test/producerRuns checks classify's words and value against this function's).
 */
export function hashSeqKey(a: number, b: number, key: string): number {
  const c20 = key.charCodeAt(20);
  const c21 = key.charCodeAt(21);
  const c22 = key.charCodeAt(22);
  const c23 = key.charCodeAt(23);
  const c24 = key.charCodeAt(24);
  const c25 = key.charCodeAt(25);
  const c26 = key.charCodeAt(26);
  const c27 = key.charCodeAt(27);
  const c28 = key.charCodeAt(28);
  const c29 = key.charCodeAt(29);
  const c30 = key.charCodeAt(30);
  const c31 = key.charCodeAt(31);
  a = step4(a, c20, c21, 0xcc9e2d51, 15, 13, 0xe6546b64);
  b = step4(b, c22, c23, 0x1b873593, 17, 15, 0x561ccd1b);
  a = step4(a, c24, c25, 0xcc9e2d51, 15, 13, 0xe6546b64);
  b = step4(b, c26, c27, 0x1b873593, 17, 15, 0x561ccd1b);
  a = Math.imul(a ^ c28, 0xcc9e2d51);
  b = Math.imul(b + c28, 0x1b873593);
  a = Math.imul(a ^ c29, 0xcc9e2d51);
  b = Math.imul(b + c29, 0x1b873593);
  a ^= 32;
  b ^= 32;
  const place = fmix32((a + Math.imul(b, 0x165667b1)) | 0) & 0xffffff00;
  const stepByte = ((hexValue(c30) << 4) | hexValue(c31)) & 0xff;
  b = Math.imul(b ^ (c30 | (c31 << 16)), 0x2c1b3c6d);
  lastHi = fmix32((b + Math.imul(a, 0x27d4eb2f)) | 0);
  // Exact for hex digits (either case); any other unit still gives a value (deterministic,
  // not unique: ProducerRuns confirms a run's match by the full hash).
  const hiDigits =
    ((hexValue(c20) << 28) +
      (hexValue(c21) << 24) +
      (hexValue(c22) << 20) +
      (hexValue(c23) << 16) +
      (hexValue(c24) << 12) +
      (hexValue(c25) << 8) +
      (hexValue(c26) << 4) +
      hexValue(c27)) >>>
    0;
  lastValue = hiDigits * 65536 + (((hexValue(c28) << 12) | (hexValue(c29) << 8) | stepByte) & 0xffff);
  return (place | stepByte) >>> 0;
}

/** One lane's half of a four-unit step (hashFrom's loop body, per lane). */
export function step4(
  lane: number,
  u0: number,
  u1: number,
  c: number,
  rot: number,
  rot2: number,
  add: number,
): number {
  let k = Math.imul(u0 | (u1 << 16), c);
  k = (k << rot) | (k >>> (32 - rot));
  const x = lane ^ k;
  return (Math.imul((x << rot2) | (x >>> (32 - rot2)), 5) + add) | 0;
}
