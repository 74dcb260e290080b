import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { decodeMessages, ResponseCode } from "@tidemq/protocol";
import type { BrokerController } from "../src/BrokerController.js";
import {
  cleanupsAfterAll,
  createTopicRequest,
  newClient,
  pullRequest,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();

/** True when nothing listens on `port` right now (dual-stack, like the broker binds). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "::", () => s.close(() => resolve(true)));
  });
}

test("listens dual-stack on listenPort and on the VIP port listenPort - 2; ::1 peers are stored as 4-byte hosts", async (t) => {
  const dir = await tempDir("broker-listen");
  cleanups.push(() => removeDir(dir));
  // A fixed port pair is needed here (port 0 has no VIP port); try a few random ones.
  let broker: BrokerController | undefined;
  for (let attempt = 0; attempt < 20 && !broker; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if (!(await portFree(port)) || !(await portFree(port - 2))) continue;
    try {
      broker = await startBroker(dir, { listenPort: port });
    } catch {
      // lost a race for the port with another process: pick another
    }
  }
  assert.ok(broker, "no free port pair found");
  const b = broker;
  cleanups.push(() => b.shutdown());
  const client = newClient();
  cleanups.push(() => client.close());
  const main = `127.0.0.1:${b.port}`;
  const vip = `127.0.0.1:${b.port - 2}`;
  const v6 = `[::1]:${b.port}`;

  assert.equal((await client.invoke(main, createTopicRequest("T_LISTEN", 1))).code, ResponseCode.SUCCESS);
  const viaVip = await client.invoke(vip, sendRequest("T_LISTEN", Buffer.from("vip")));
  assert.equal(viaVip.code, ResponseCode.SUCCESS, viaVip.remark);
  let v6ok = true;
  try {
    const viaV6 = await client.invoke(v6, sendRequest("T_LISTEN", Buffer.from("v6")));
    assert.equal(viaV6.code, ResponseCode.SUCCESS, viaV6.remark);
  } catch (err) {
    // Hosts without IPv6 loopback cannot run this part.
    if (!/::1|EADDRNOTAVAIL|ENETUNREACH|unreachable/i.test(String(err))) throw err;
    v6ok = false;
    t.diagnostic(`IPv6 loopback unavailable, the ::1 part was skipped: ${String(err)}`);
  }
  const res = await client.invoke(main, pullRequest("T_LISTEN", 0, 0));
  const messages = decodeMessages(res.body!);
  assert.equal(messages.length, v6ok ? 2 : 1);
  for (const m of messages) {
    assert.equal(m.bornHost.host, "127.0.0.1");
    assert.equal(m.sysFlag & 0x30, 0, "no IPv6 host flags: ali-ons reads 4-byte hosts only");
  }
});
