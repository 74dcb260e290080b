// Child process of the crash test: appends with SYNC_FLUSH and reports every acknowledged
// message on stdout ("ack <commitLogOffset> <queueId> <queueOffset> <sha1> <bodyLength>")
// until the parent kills it with SIGKILL. Usage: node crash-child.js <dir> <seed>
import { MessageStore } from "../src/index.js";
import { ackLines, childLogger } from "./acks.js";
import { bodyBytes, msg, prng, storeConfig } from "./helpers.js";

const [dir, seedText] = process.argv.slice(2);
const seed = Number(seedText);
const rnd = prng(seed);
const store = await MessageStore.open(
  storeConfig(dir!, { flushDiskType: "SYNC_FLUSH", logger: childLogger, flushIntervalConsumeQueue: 100 }),
);
process.stdout.write("ready\n");
let n = 0;

async function appender(id: number): Promise<void> {
  for (;;) {
    const queueId = id % 4;
    const count = rnd() < 0.2 ? 2 + Math.floor(rnd() * 4) : 1;
    const bodies = Array.from({ length: count }, () => {
      const size = rnd() < 0.02 ? 200_000 + Math.floor(rnd() * 300_000) : 100 + Math.floor(rnd() * 8000);
      return bodyBytes(seed * 10_000_000 + n++, size);
    });
    const r = await store.putMessages(bodies.map((b) => msg("Crash", queueId, b, { KEYS: `c${seed}-${n}` })));
    if (r.status !== "PUT_OK") continue; // not acknowledged as durable
    // Synchronous on Linux pipes: the line is in the pipe before the next append starts.
    process.stdout.write(ackLines(r, queueId, bodies));
  }
}

await Promise.all(Array.from({ length: 16 }, (_, i) => appender(i)));
