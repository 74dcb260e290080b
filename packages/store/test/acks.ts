// The ack protocol shared by the crash and power-cut children and their parents: a child
// prints one line per acknowledged message on stdout,
// "ack <commitLogOffset> <queueId> <queueOffset> <sha1> <bodyLength>", until it is killed.
import { createHash } from "node:crypto";
import { decodeOffsetMsgId } from "@tidemq/protocol";
import type { PutResult } from "../src/index.js";

export interface Ack {
  offset: number;
  queueId: number;
  queueOffset: number;
  sha1: string;
  length: number;
}

export const sha1 = (b: Buffer): string => createHash("sha1").update(b).digest("hex");

/** The ack lines of one acknowledged put of `bodies` to `queueId`. */
export function ackLines(r: PutResult, queueId: number, bodies: Buffer[]): string {
  let lines = "";
  bodies.forEach((b, k) => {
    const off = decodeOffsetMsgId(r.msgIds[k]!).commitLogOffset;
    lines += `ack ${off} ${queueId} ${r.queueOffset + k} ${sha1(b)} ${b.length}\n`;
  });
  return lines;
}

/** The acks in a child's stdout. */
export function parseAcks(out: string): Ack[] {
  const acks: Ack[] = [];
  for (const line of out.split("\n")) {
    const p = line.split(" ");
    if (p[0] !== "ack" || p.length !== 6) continue; // the last line may be cut by the kill
    acks.push({
      offset: Number(p[1]),
      queueId: Number(p[2]),
      queueOffset: Number(p[3]),
      sha1: p[4]!,
      length: Number(p[5]),
    });
  }
  return acks;
}

/** A child's store logger: warnings and errors to stderr (the parent reports them), stdout kept for acks. */
export const childLogger = {
  debug() {},
  info() {},
  warn: (m: string) => process.stderr.write(`${m}\n`),
  error: (m: string) => process.stderr.write(`${m}\n`),
};
