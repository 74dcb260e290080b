import net from "node:net";
import { crc32 } from "node:zlib";
import type { Entry, EntryType, Message, MessageType } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import { crc32Combine, crc32Of } from "./Crc32Combine.js";
import type { DLedgerPeer } from "./DLedgerPeers.js";
import { FrameAssembler, FrameTooLargeError } from "./FrameAssembler.js";

const MAX_FRAME = 256 * 1024 * 1024;
/** Above this many unsent bytes to a peer, messages to it are dropped (Raft re-sends). */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const TYPES: EntryType[] = ["normal", "noop", "config"];
/** How long a connection to a replica that is not a peer (told it was removed) is kept. */
const REMOVED_PEER_MS = 30_000;
/** A/B switch for the bench: the old deferred uncork (frames left at the end of the tick). */
const DEFER_UNCORK = process.env.TIDEMQ_RAFT_DEFER_UNCORK === "1";
/** A/B switch for the bench: each frame's CRC runs over its entries' data again (the old way). */
const PER_FRAME_CRC = process.env.TIDEMQ_RAFT_PER_FRAME_CRC === "1";

/**
 * Raft messages between replicas over TCP on the dLegerPeers ports. One outbound connection
 * per peer (reconnecting), inbound connections accepted on our own port. Frame: u32 length,
 * u32 CRC32 of the payload, payload = u32 header length, JSON header (the message without
 * entry data), then the entries' data back to back. Messages of one Ready go out in one
 * corked write. A lost connection loses messages; Raft copes (it re-sends).
 */
export class RaftTransport {
  private server: net.Server | undefined;
  private readonly out = new Map<
    string,
    { socket: net.Socket | undefined; connecting: boolean; backoff: number; addr: string }
  >();
  private readonly inbound = new Set<net.Socket>();
  private stopped = false;
  onMessage: (m: Message) => void = () => {};
  /** Where a replica that is not a peer listens (DLedgerNode: the addresses the membership knows). */
  locate: (id: string) => DLedgerPeer | undefined = () => undefined;
  /** Replicas in `out` only to be told they were removed (reach()), not peers. */
  private readonly removedPeers = new Set<string>();

  constructor(
    private readonly self: DLedgerPeer,
    private readonly peers: readonly DLedgerPeer[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(
        this.self.port,
        this.self.host === "localhost" ? "127.0.0.1" : this.self.host,
        () => {
          this.server!.off("error", reject);
          resolve();
        },
      );
    });
    this.server.on("error", (err) => this.logger.error(`raft transport: ${err.message}`));
    for (const p of this.peers) if (p.id !== this.self.id) this.connect(p);
  }

  get port(): number {
    const a = this.server?.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  /** Sends messages (in order per peer); drops what cannot be sent now. */
  send(msgs: readonly Message[]): void {
    if (msgs.length === 0 || this.stopped) return;
    const byPeer = new Map<string, Uint8Array[]>();
    for (const m of msgs) {
      const conn = this.out.get(m.to);
      if (!conn && m.removed) this.reach(m.to);
      const s = conn?.socket;
      if (!s || s.destroyed || s.writableLength > MAX_QUEUED_BYTES) continue;
      let list = byPeer.get(m.to);
      if (!list) {
        list = [];
        byPeer.set(m.to, list);
      }
      for (const part of encodeFrameParts(m)) list.push(part);
    }
    for (const [to, parts] of byPeer) {
      const s = this.out.get(to)!.socket!;
      if (DEFER_UNCORK) {
        s.cork();
        for (const f of parts) s.write(f);
        process.nextTick(() => s.uncork());
      } else if (parts.length === 1) {
        s.write(parts[0]!);
      } else {
        // Out now, in one writev: a Ready's messages already come together, and waiting for
        // the next tick put the leader's own log and index writes (and whatever else the turn
        // does) before the followers' copy on every round.
        s.cork();
        for (const f of parts) s.write(f);
        s.uncork();
      }
    }
  }

  /** The group's membership changed: connect to new voters (or new addresses), drop removed ones. */
  setPeers(peers: readonly DLedgerPeer[]): void {
    const want = new Map(peers.filter((p) => p.id !== this.self.id).map((p) => [p.id, p]));
    this.removedPeers.clear();
    for (const [id, st] of [...this.out]) {
      const p = want.get(id);
      if (p && st.addr === `${p.host}:${p.port}`) continue;
      this.out.delete(id);
      st.socket?.destroy();
    }
    for (const p of want.values()) if (!this.out.has(p.id) && !this.stopped) this.connect(p);
  }

  /**
   * A replica that is not a peer (removed from the group while it was down) asked for a vote
   * and is to be told it was removed: connect to it for a while. This answer is dropped (not
   * connected yet); the next, after its next election timeout, gets through.
   */
  private reach(id: string): void {
    const p = this.locate(id);
    if (!p || this.stopped || id === this.self.id) return;
    this.removedPeers.add(id);
    this.connect(p);
    setTimeout(() => {
      if (!this.removedPeers.delete(id)) return; // a peer again, or setPeers dropped it
      this.out.get(id)?.socket?.destroy();
      this.out.delete(id);
    }, REMOVED_PEER_MS).unref();
  }

  private connect(peer: DLedgerPeer): void {
    let st = this.out.get(peer.id);
    if (!st) {
      st = { socket: undefined, connecting: false, backoff: 50, addr: `${peer.host}:${peer.port}` };
      this.out.set(peer.id, st);
    }
    if (this.stopped || st.connecting) return;
    st.connecting = true;
    const state = st;
    const s = net.connect({ host: peer.host, port: peer.port });
    s.setNoDelay(true);
    let ok = false;
    s.once("connect", () => {
      if (this.out.get(peer.id) !== state) {
        s.destroy(); // removed from the group while connecting
        return;
      }
      ok = true;
      state.connecting = false;
      state.backoff = 50;
      state.socket = s;
    });
    s.on("data", () => {}); // peers never answer on this connection
    s.on("error", () => {});
    s.once("close", () => {
      state.connecting = false;
      if (state.socket === s) state.socket = undefined;
      if (this.stopped) return;
      if (this.out.get(peer.id) !== state) return; // removed from the group (setPeers)
      const wait = ok ? 50 : state.backoff;
      state.backoff = Math.min(1000, state.backoff * 2);
      setTimeout(() => {
        if (this.out.get(peer.id) === state) this.connect(peer);
      }, wait).unref();
    });
  }

  private accept(s: net.Socket): void {
    if (this.stopped) {
      s.destroy();
      return;
    }
    this.inbound.add(s);
    s.setNoDelay(true);
    const frames = new FrameAssembler(MAX_FRAME);
    const onFrame = (frame: Buffer): boolean => {
      const payload = frame.subarray(8);
      if (crc32(payload) >>> 0 !== frame.readUInt32BE(4)) {
        this.logger.warn("raft transport: frame checksum mismatch; closing the connection");
        s.destroy();
        return false;
      }
      let m: Message;
      try {
        m = decodePayload(payload);
      } catch (err) {
        this.logger.warn(`raft transport: bad frame (${(err as Error).message}); closing`);
        s.destroy();
        return false;
      }
      this.onMessage(m);
      return !s.destroyed;
    };
    s.on("data", (chunk: Buffer) => {
      try {
        frames.push(chunk, onFrame);
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        this.logger.warn(`raft transport: ${err.message} from ${s.remoteAddress}; closing`);
        s.destroy();
      }
    });
    s.on("error", () => {});
    s.once("close", () => this.inbound.delete(s));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const st of this.out.values()) st.socket?.destroy();
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

interface Header {
  y: MessageType;
  f: string;
  t: string;
  term: number;
  lt: number;
  i: number;
  c: number;
  r: boolean;
  h: number;
  tr?: boolean;
  /** forgot: an amnesiac replica's rejection (Message.forgot). */
  fg?: boolean;
  /** removed: "the group removed you" (Message.removed); older replicas ignore it. */
  rm?: boolean;
  e: [number, number, number, number][];
  sn?: {
    index: number;
    term: number;
    voters: readonly string[];
    /** SnapshotMetadata.removedAt; older replicas neither send nor read it. */
    removedAt?: Readonly<Record<string, number>>;
    len: number;
  };
}

export function encodeFrame(m: Message): Buffer {
  return Buffer.concat(encodeFrameParts(m));
}

/**
 * A frame as its parts, to be written back to back: the length/CRC/header prefix, then the
 * entries' data as they are (not copied: a 50-100 KiB entry goes to every follower, once per
 * follower, and the log's entries never change). The CRC runs over the parts in turn.
 */
export function encodeFrameParts(m: Message): Uint8Array[] {
  const header: Header = {
    y: m.type,
    f: m.from,
    t: m.to,
    term: m.term,
    lt: m.logTerm,
    i: m.index,
    c: m.commit,
    r: m.reject,
    h: m.rejectHint,
    e: m.entries.map((e) => [e.index, e.term, TYPES.indexOf(e.type), e.data.byteLength]),
  };
  if (m.transfer) header.tr = true;
  if (m.forgot) header.fg = true;
  if (m.removed) header.rm = true;
  if (m.snapshot) header.sn = { ...m.snapshot.metadata, len: m.snapshot.data.byteLength };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  let dataBytes = 0;
  for (const e of m.entries) dataBytes += e.data.byteLength;
  const snapBytes = m.snapshot ? m.snapshot.data.byteLength : 0;
  const len = 4 + json.length + dataBytes + snapBytes;
  const prefix = Buffer.allocUnsafe(12 + json.length);
  prefix.writeUInt32BE(len, 0);
  prefix.writeUInt32BE(json.length, 8);
  json.copy(prefix, 12);
  let crc = crc32(prefix.subarray(8));
  const parts: Uint8Array[] = [prefix];
  for (const e of m.entries) {
    if (e.data.byteLength === 0) continue;
    // The entry's own CRC once (it goes to every follower), combined into this frame's.
    crc = PER_FRAME_CRC ? crc32(e.data, crc) : crc32Combine(crc, crc32Of(e.data), e.data.byteLength);
    parts.push(e.data);
  }
  if (m.snapshot && m.snapshot.data.byteLength > 0) {
    crc = crc32(m.snapshot.data, crc);
    parts.push(m.snapshot.data);
  }
  prefix.writeUInt32BE(crc >>> 0, 4);
  return parts;
}

function decodePayload(payload: Buffer): Message {
  const hlen = payload.readUInt32BE(0);
  const h = JSON.parse(payload.toString("utf8", 4, 4 + hlen)) as Header;
  let p = 4 + hlen;
  // Entries keep views into the frame when their data is most of its memory (the usual case:
  // one 50-100 KiB entry per frame, no copy); small entries of a larger read are copied out,
  // so that a cached entry of a few bytes does not keep a whole 64 KiB read alive.
  let dataBytes = 0;
  for (const e of h.e) dataBytes += e[3];
  const view = dataBytes * 2 >= payload.buffer.byteLength;
  const entries: Entry[] = [];
  for (const [index, term, type, len] of h.e) {
    if (p + len > payload.length) throw new RangeError("entry data overruns the frame");
    const data = payload.subarray(p, p + len);
    entries.push({ index, term, type: TYPES[type] ?? "normal", data: view ? data : Buffer.from(data) });
    p += len;
  }
  const m: Message = {
    type: h.y,
    from: h.f,
    to: h.t,
    term: h.term,
    logTerm: h.lt,
    index: h.i,
    entries,
    commit: h.c,
    reject: h.r,
    rejectHint: h.h,
    ...(h.tr ? { transfer: true } : {}),
    ...(h.fg ? { forgot: true } : {}),
    ...(h.rm ? { removed: true } : {}),
    ...(h.sn
      ? {
          snapshot: {
            metadata: {
              index: h.sn.index,
              term: h.sn.term,
              voters: h.sn.voters,
              ...(removalsOf(h.sn.removedAt) ? { removedAt: removalsOf(h.sn.removedAt)! } : {}),
            },
            data: Buffer.from(payload.subarray(p, p + h.sn.len)),
          },
        }
      : {}),
  };
  return m;
}

/** A frame's snapshot removals (id → entry index), or undefined when absent or malformed. */
function removalsOf(v: unknown): Record<string, number> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [id, at] of Object.entries(v)) {
    if (!Number.isSafeInteger(at) || (at as number) <= 0) return undefined;
    out[id] = at as number;
  }
  return out;
}
