// Preloaded into a broker (node --import) for the "full disk" fault: after SIGUSR2 every file
// write of the process fails with ENOSPC, as on a full disk (no root, no tmpfs needed); a second
// SIGUSR2 frees the space again. Only the fault-injection harness loads it.
import fs from "node:fs";

let full = false;
process.on("SIGUSR2", () => {
  full = !full;
  process.stderr.write(`enospc: disk ${full ? "full" : "freed"}\n`);
});
const enospc = () =>
  Object.assign(new Error("ENOSPC: no space left on device, write"), {
    code: "ENOSPC",
    errno: -28,
    syscall: "write",
  });
const writeSync = fs.writeSync;
fs.writeSync = function (...args) {
  if (full) throw enospc();
  return writeSync.apply(this, args);
};
const write = fs.write;
fs.write = function (...args) {
  if (full) {
    const cb = args.at(-1);
    if (typeof cb === "function") return process.nextTick(cb, enospc());
  }
  return write.apply(this, args);
};
