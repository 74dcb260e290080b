/**
 * A port that is taken: the broker, NameServer and `tidemq dev` exit non-zero with one line
 * naming the key (or option), the address and what to do — no Node stack trace. Real child
 * processes; the port is held by this test on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { portInUseLine } from "../src/commands/portInUse.js";
import { run } from "./processes.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

let holder: net.Server;
let port: number;
let dir: string;

/** Listens on 127.0.0.1:`p` (0: any free port); undefined when that port is taken. */
async function listenOn(p: number): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(p, "127.0.0.1", () => resolve(server));
  });
}

const closeServer = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tidemq-portinuse-"));
  // `tidemq dev --raft-port P` gives its replicas P, P+1 and P+2: the held port's two neighbours
  // must be free, or a second replica fails too and the test reads two "in use" lines.
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = (await listenOn(0))!;
    const p = (candidate.address() as net.AddressInfo).port;
    const neighbours = [await listenOn(p + 1), await listenOn(p + 2)];
    await Promise.all(neighbours.map((n) => n && closeServer(n)));
    if (neighbours.every((n) => n !== undefined)) {
      holder = candidate;
      port = p;
      return;
    }
    await closeServer(candidate);
  }
  throw new Error("no free port with two free neighbours in 50 tries");
});

after(async () => {
  await new Promise<void>((r) => holder.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

async function tidemq(args: string[]): Promise<{ code: number | null; output: string }> {
  return run(process.execPath, [TIDEMQ, ...args], { cwd: dir, timeoutMs: 60_000 });
}

/** Exit 1, the one expected line, no stack frame. */
function assertOneLine(r: { code: number | null; output: string }, line: RegExp): void {
  assert.equal(r.code, 1, `exit code ${r.code}, expected 1; output:\n${r.output}`);
  assert.match(r.output, line);
  assert.doesNotMatch(r.output, /^\s+at /m, `a stack trace was printed:\n${r.output}`);
  assert.doesNotMatch(r.output, /EADDRINUSE/, `Node's EADDRINUSE text was printed:\n${r.output}`);
  const errorLines = r.output.split("\n").filter((l) => /in use by another process/.test(l));
  assert.equal(errorLines.length, 1, `${errorLines.length} lines say "in use", expected 1:\n${r.output}`);
}

async function conf(name: string, lines: string[]): Promise<string> {
  const file = join(dir, `${name}.conf`);
  await writeFile(
    file,
    [`storePathRootDir=${join(dir, name)}`, "namesrvAddr=127.0.0.1:1", ...lines, ""].join("\n"),
  );
  return file;
}

describe("port in use", () => {
  test("NameServer -p", async () => {
    const r = await tidemq(["namesrv", "-p", String(port)]);
    assertOneLine(
      r,
      new RegExp(
        `^tidemq: -p/--port ${port} on \\S.* is in use by another process; stop it or set -p/--port$`,
        "m",
      ),
    );
  });

  test("broker listenPort", async () => {
    const r = await tidemq(["broker", "-c", await conf("b", [`listenPort=${port}`])]);
    assertOneLine(
      r,
      new RegExp(
        `^tidemq: listenPort ${port} on .* is in use by another process; stop it or set listenPort$`,
        "m",
      ),
    );
  });

  test("master's haListenPort", async () => {
    const file = await conf("ha", ["listenPort=0", `haListenPort=${port}`, "brokerRole=ASYNC_MASTER"]);
    const r = await tidemq(["broker", "-c", file]);
    assertOneLine(
      r,
      new RegExp(
        `^tidemq: haListenPort ${port} on 0\\.0\\.0\\.0 is in use by another process; stop it or set haListenPort$`,
        "m",
      ),
    );
  });

  test("DLedger replica's Raft port (dLegerPeers)", async () => {
    const file = await conf("dl", [
      "listenPort=0",
      "brokerName=dl",
      "enableDLegerCommitLog=true",
      "dLegerGroup=dl",
      `dLegerPeers=n0-127.0.0.1:${port};n1-127.0.0.1:1;n2-127.0.0.1:2`,
      "dLegerSelfId=n0",
    ]);
    const r = await tidemq(["broker", "-c", file]);
    assertOneLine(
      r,
      new RegExp(
        `^tidemq: Raft port of n0 \\(dLegerPeers\\) ${port} on 127\\.0\\.0\\.1 is in use by another process; stop it or set dLegerPeers \\(n0's entry\\)$`,
        "m",
      ),
    );
  });

  test("tidemq dev --namesrv-port (single broker)", async () => {
    const r = await tidemq([
      "dev",
      "--replicas",
      "1",
      "--namesrv-port",
      String(port),
      "--data",
      join(dir, "d1"),
      "--no-dashboard",
    ]);
    assertOneLine(r, new RegExp(`^tidemq: --namesrv-port ${port} on .* stop it or set --namesrv-port$`, "m"));
  });

  test("tidemq dev --raft-port (DLedger group): the replica says which option, dev exits", async () => {
    const r = await tidemq([
      "dev",
      "--raft-port",
      String(port),
      "--broker-port",
      "0",
      "--namesrv-port",
      "0",
      "--data",
      join(dir, "d3"),
      "--no-dashboard",
    ]);
    assertOneLine(r, /^tidemq: Raft port of n0 .* stop it or set --raft-port of tidemq dev$/m);
    assert.match(r.output, /replica n0 exited \(1\) before it started/);
    assert.doesNotMatch(r.output, /restart it/, "a replica that never started is not 'restarted'");
  });

  test("portInUseLine: other errors pass, causes are followed, an unknown port is still named", () => {
    assert.equal(portInUseLine(new Error("boom"), []), undefined);
    const e = Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE", port: 5, address: "::" });
    assert.equal(
      portInUseLine(new Error("wrapped", { cause: e }), [{ key: "listenPort", port: 5 }]),
      "listenPort 5 on [::] (all addresses) is in use by another process; stop it or set listenPort",
    );
    assert.equal(
      portInUseLine(e, [{ key: "listenPort", port: 6 }]),
      "port 5 on [::] (all addresses) is in use by another process; stop it or choose another port",
    );
  });
});
