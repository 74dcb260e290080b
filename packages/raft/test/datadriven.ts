// A small text-driven test runner in the style of etcd-raft's datadriven testdata.
//
// A file is a list of cases separated by blank lines:
//
//   # comments start with '#'
//   command arg key=value
//   ----
//   expected output (no blank lines; "ok" for none)
//
// Run with RAFT_REWRITE=1 to overwrite the expected outputs with what the code prints now
// (then read the diff: the transcript is the review).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly kv: ReadonlyMap<string, string>;
  readonly line: number;
}

interface Case {
  readonly command: Command;
  readonly raw: string;
  readonly expected: string;
  readonly comments: string[];
}

function parseCommand(raw: string, line: number): Command {
  const parts = raw.trim().split(/\s+/);
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf("=");
    if (eq > 0) kv.set(p.slice(0, eq), p.slice(eq + 1));
    else args.push(p);
  }
  return { name: parts[0]!, args, kv, line };
}

function parse(text: string, file: string): { cases: Case[]; trailing: string[] } {
  const lines = text.split("\n");
  const cases: Case[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.trim() === "") {
      i++;
      continue;
    }
    if (l.startsWith("#")) {
      comments.push(l);
      i++;
      continue;
    }
    const cmdLine = i + 1;
    if (lines[i + 1] !== "----") throw new Error(`${file}:${cmdLine}: expected '----' after command`);
    i += 2;
    const out: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== "") out.push(lines[i++]!);
    cases.push({ command: parseCommand(l, cmdLine), raw: l, expected: out.join("\n"), comments });
    comments = [];
  }
  return { cases, trailing: comments };
}

/** Run every case of `file` through `handle`; compare (or rewrite) the outputs. */
export function runFile(file: string, handle: (c: Command) => string): void {
  const { cases, trailing } = parse(readFileSync(file, "utf8"), file);
  const rewrite = process.env.RAFT_REWRITE === "1";
  const outputs: string[] = [];
  for (const c of cases) {
    let actual: string;
    try {
      actual = handle(c.command).trimEnd();
    } catch (e) {
      actual = `error: ${(e as Error).message}`;
      if (!rewrite && c.expected !== actual) throw e;
    }
    if (actual === "") actual = "ok";
    actual = actual
      .split("\n")
      .filter((l) => l.trim() !== "")
      .join("\n");
    outputs.push(actual);
    if (!rewrite) assert.equal(actual, c.expected, `${file}:${c.command.line}: ${c.raw}`);
  }
  if (rewrite) {
    const blocks = cases.map((c, k) => [...c.comments, c.raw, "----", outputs[k]].join("\n"));
    writeFileSync(file, `${[...blocks, ...(trailing.length ? [trailing.join("\n")] : [])].join("\n\n")}\n`);
  }
}
