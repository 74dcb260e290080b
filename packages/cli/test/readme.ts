/**
 * README recipes as the tests run them: a fenced block preceded by `<!-- recipe: NAME -->` in
 * the repository's README.md. The comment is invisible on the rendered page; a recipe the tests
 * ask for and the README lacks fails the test, so a block cannot lose its test silently.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export interface Recipe {
  name: string;
  /** The fence's info string ("ts", "sh", …). */
  lang: string;
  code: string;
}

export function readmeRecipes(file = `${REPO_ROOT}README.md`): Map<string, Recipe> {
  const lines = readFileSync(file, "utf8").split("\n");
  const out = new Map<string, Recipe>();
  for (let i = 0; i < lines.length; i++) {
    const m = /^<!-- recipe: ([\w-]+) -->\s*$/.exec(lines[i]!);
    if (!m) continue;
    const fence = /^(`{3,})(\S*)/.exec(lines[i + 1] ?? "");
    if (!fence) throw new Error(`${file}:${i + 1}: recipe ${m[1]} is not followed by a fenced block`);
    const end = lines.findIndex((l, j) => j > i + 1 && l.startsWith(fence[1]!));
    if (end < 0) throw new Error(`${file}:${i + 2}: recipe ${m[1]}'s block is not closed`);
    out.set(m[1]!, { name: m[1]!, lang: fence[2] ?? "", code: lines.slice(i + 2, end).join("\n") });
  }
  return out;
}

export function readmeRecipe(name: string, file?: string): Recipe {
  const r = readmeRecipes(file).get(name);
  if (!r) throw new Error(`README has no block marked <!-- recipe: ${name} -->`);
  return r;
}

/** Commands of a shell recipe: one per line, comments and blank lines dropped. */
export function shellCommands(code: string): string[] {
  return code
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l.length > 0);
}

/** Splits a command line the way sh does for the quoting README recipes use ('…', "…"). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}
