import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ResponseCode } from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import { exited, killAllChildren, spawnBroker } from "./childBroker.js";
import { createTopicRequest, newClient, pullAll, removeDir, sendRequest, tempDir } from "./helpers.js";

const dirs: string[] = [];

after(async () => {
  await killAllChildren();
  for (const d of dirs) await removeDir(d);
});

test("SYNC_FLUSH broker killed -9 while producers send: every acknowledged message survives, byte-identical", async (t) => {
  const dir = await tempDir("broker-durable");
  dirs.push(dir);
  const overrides = {
    brokerName: "broker-d",
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    flushDiskType: "SYNC_FLUSH",
  };
  const first = await spawnBroker(overrides);
  let client: RemotingClient = newClient();
  const acked = new Map<string, { queueId: number; offset: number; msgId: string; body: Buffer }>();
  try {
    const addr = `127.0.0.1:${first.port}`;
    assert.equal((await client.invoke(addr, createTopicRequest("T_DUR", 4))).code, ResponseCode.SUCCESS);
    let stop = false;
    const producer = async (p: number) => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        const body = Buffer.from(`p${p}-m${i}-${"y".repeat((i * 37) % 700)}`);
        let res: Awaited<ReturnType<RemotingClient["invoke"]>>;
        try {
          res = await client.invoke(
            addr,
            sendRequest("T_DUR", body, { queueId: p % 4, properties: { KEYS: `p${p}-${i}` } }),
          );
        } catch {
          return; // the broker died under us: this send was never acknowledged
        }
        if (res.code !== ResponseCode.SUCCESS) continue;
        acked.set(body.toString(), {
          queueId: Number(res.extFields!.queueId),
          offset: Number(res.extFields!.queueOffset),
          msgId: res.extFields!.msgId!,
          body,
        });
      }
    };
    const producers = [0, 1, 2, 3, 4, 5].map(producer);
    // Kill once a good number of sends have been acknowledged (bounded wait).
    const deadline = Date.now() + 20_000;
    while (acked.size < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    process.kill(first.child.pid!, "SIGKILL");
    await exited(first.child);
    stop = true;
    await Promise.all(producers);
  } finally {
    await client.close();
  }
  assert.ok(acked.size >= 50, `only ${acked.size} sends were acknowledged before the kill`);

  const second = await spawnBroker(overrides);
  client = newClient();
  try {
    const addr = `127.0.0.1:${second.port}`;
    const found = new Map<string, { queueId: number; offset: number; msgId: string; body: Buffer }>();
    for (let q = 0; q < 4; q++) {
      const { messages } = await pullAll(client, addr, "T_DUR", q);
      for (const m of messages) {
        found.set(m.body.toString(), {
          queueId: m.queueId,
          offset: m.queueOffset,
          msgId: m.msgId,
          body: m.body,
        });
      }
    }
    let missing = 0;
    for (const [key, a] of acked) {
      const f = found.get(key);
      if (!f) {
        missing++;
        continue;
      }
      assert.deepEqual(f.body, a.body);
      assert.equal(f.queueId, a.queueId);
      assert.equal(f.offset, a.offset);
      assert.equal(f.msgId, a.msgId);
    }
    assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged messages are gone after kill -9`);
    t.diagnostic(
      `${acked.size} acknowledged before the kill, ${found.size} recovered (unacknowledged ones may survive too)`,
    );
    // The restarted broker still takes writes, and a clean stop exits 0.
    const res = await client.invoke(addr, sendRequest("T_DUR", Buffer.from("after restart")));
    assert.equal(res.code, ResponseCode.SUCCESS);
  } finally {
    await client.close();
  }
  process.kill(second.child.pid!, "SIGTERM");
  const { code } = await exited(second.child);
  assert.equal(code, 0);
});
