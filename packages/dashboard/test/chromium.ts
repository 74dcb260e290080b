import { existsSync } from "node:fs";

/**
 * Where Debian's chromium (or another Chromium/Chrome) is: $CHROMIUM_PATH first, then the
 * usual paths. undefined when none is installed (the browser tests then skip, saying so).
 */
export function findChromium(): string | undefined {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export const NO_CHROMIUM =
  "Chromium not found (install Debian's package: apt-get install -y chromium, or set CHROMIUM_PATH): the console's browser tests are skipped";
