// `node --import ./lib/resolve-deps.mjs /work/shared/bench/peers/bench.mjs ...`
// The shared harness imports hdr-histogram-js (and its peers' clients) by bare name, but its
// directory is read-only and has no node_modules. This hook lets a bare import that cannot be
// resolved where it is made fall back to this directory's node_modules (package.json here
// pins the harness's exact versions). bench.mjs forks its producer and consumer with the
// parent's execArgv, so they get the hook too. Nothing else changes.
import { register } from "node:module";

register("./resolve-deps-hooks.mjs", import.meta.url);
