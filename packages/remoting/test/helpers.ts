import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { FrameDecoder, type RemotingCommand } from "@tidemq/protocol";
import type { Logger } from "../src/index.js";

/** A logger that keeps its lines, for asserting on warnings. */
export interface CapturingLogger extends Logger {
  lines: string[];
}

export function captureLogger(): CapturingLogger {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`DEBUG ${m}`),
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}

/** A plain TCP socket speaking frames, standing in for a foreign peer (ali-ons, a broken client). */
export interface RawPeer {
  socket: Socket;
  frames: RemotingCommand[];
  /** Resolves once `count` frames have arrived in total. */
  waitForFrames(count: number): Promise<RemotingCommand[]>;
  closed: Promise<void>;
}

export async function rawConnect(port: number, host = "127.0.0.1"): Promise<RawPeer> {
  const socket = connect({ port, host });
  await once(socket, "connect");
  return wrapRawSocket(socket);
}

export function wrapRawSocket(socket: Socket): RawPeer {
  const decoder = new FrameDecoder();
  const frames: RemotingCommand[] = [];
  let waiters: Array<{ count: number; resolve: (f: RemotingCommand[]) => void }> = [];
  socket.on("data", (chunk: Buffer) => {
    frames.push(...decoder.push(chunk));
    const ready = waiters.filter((w) => frames.length >= w.count);
    waiters = waiters.filter((w) => frames.length < w.count);
    for (const w of ready) w.resolve(frames);
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    socket,
    frames,
    closed,
    waitForFrames(count) {
      if (frames.length >= count) return Promise.resolve(frames);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}

/** Rejects if `promise` has not settled within ms (a guard, so a broken build fails instead of hanging). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}
