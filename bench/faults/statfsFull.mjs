// Preloaded into a broker (node --import) for the "disk above diskSpaceWarningLevelRatio"
// fault: after SIGUSR2 fs.statfs reports the file system 100 % used (the store then refuses
// appends, as on a disk filling up, while writes still work); a second SIGUSR2 reports it
// as it is again. No root, no real filling of the disk.
import fs from "node:fs";

let full = false;
process.on("SIGUSR2", () => {
  full = !full;
  process.stderr.write(`statfsFull: disk ${full ? "full" : "freed"}\n`);
});
const statfs = fs.promises.statfs;
fs.promises.statfs = async function (...args) {
  const s = await statfs.apply(this, args);
  return full ? { ...s, bfree: 0, bavail: 0 } : s;
};
