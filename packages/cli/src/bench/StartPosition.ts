/**
 * Where `bench consumer` will start, said truthfully before it starts: a group with committed
 * offsets resumes from them whatever --from says (RocketMQ's rule: consumeFromWhere applies only
 * to a queue the group has never committed), so a re-run with the same -g replays its backlog.
 * Pure: the offsets are gathered by the caller.
 */
export interface QueueStart {
  /** The group's committed offset, or −1 when it has none on this queue. */
  committed: number;
  min: number;
  max: number;
}

export interface StartPosition {
  /** "new": no queue committed; "resume": every queue; "mixed": some. */
  kind: "new" | "resume" | "mixed";
  queues: number;
  committedQueues: number;
  /** Messages stored after the start offsets (what the consumer reads before it is caught up). */
  behind: number;
}

export function startPosition(queues: QueueStart[], from: "first" | "last"): StartPosition {
  let committedQueues = 0;
  let behind = 0;
  for (const q of queues) {
    if (q.committed >= 0) {
      committedQueues++;
      behind += Math.max(0, q.max - Math.max(q.committed, q.min));
    } else if (from === "first") {
      behind += Math.max(0, q.max - q.min);
    }
  }
  const kind = committedQueues === 0 ? "new" : committedQueues === queues.length ? "resume" : "mixed";
  return { kind, queues: queues.length, committedQueues, behind };
}

const int = (n: number) => n.toLocaleString("en-US");

export function startPositionText(group: string, from: "first" | "last", s: StartPosition): string {
  const atFrom =
    from === "last"
      ? "the last offset (only messages sent from now on)"
      : `the first offset (${int(s.behind)} stored messages to read first)`;
  switch (s.kind) {
    case "new":
      return `new group ${group}: starts at ${atFrom}`;
    case "resume":
      return (
        `group ${group} has committed offsets: resumes from them, ${int(s.behind)} messages behind ` +
        "(--from applies only to a group with none; use a new -g to start afresh)"
      );
    case "mixed":
      return (
        `group ${group} has committed offsets on ${s.committedQueues} of ${s.queues} queues: resumes there, ` +
        `the other queues start at the ${from} offset; ${int(s.behind)} messages behind`
      );
  }
}
