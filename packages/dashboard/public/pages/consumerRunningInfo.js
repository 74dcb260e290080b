import { api, asOf, cutNotice, errorBox, fmtNum, fmtTime, h, kvTable, show, table } from "../ui.js";

/** One client's running info (relayed by the broker): TPS per topic, process queues, in-flight, locks. */
async function load(out, group, clientId) {
  show(out, h("p", { class: "muted" }, "asking the client…"));
  try {
    const r = await api.get("/api/consumers/runningInfo", { group, clientId });
    show(
      out,
      h("h2", {}, `Running info of ${clientId}`),
      h(
        "p",
        {},
        `${fmtNum(r.inFlight)} messages in flight (pulled, not yet consumed) in ${fmtNum(r.queues.total)} process queues`,
      ),
      table(
        [
          { title: "topic", get: (s) => s.topic },
          { title: "pull TPS", num: true, get: (s) => fmtNum(s.pullTPS) },
          { title: "pull RT ms", num: true, get: (s) => fmtNum(s.pullRT) },
          { title: "consume OK TPS", num: true, get: (s) => fmtNum(s.consumeOKTPS) },
          { title: "consume failed TPS", num: true, get: (s) => fmtNum(s.consumeFailedTPS) },
          { title: "consume RT ms", num: true, get: (s) => fmtNum(s.consumeRT) },
          { title: "failed since start", num: true, get: (s) => fmtNum(s.consumeFailedMsgs) },
        ],
        r.status,
      ),
      cutNotice(r.queues, "queues"),
      table(
        [
          { title: "topic", get: (q) => q.topic },
          { title: "broker", get: (q) => q.brokerName },
          { title: "queue", num: true, get: (q) => q.queueId },
          { title: "commit offset", num: true, get: (q) => fmtNum(q.commitOffset) },
          { title: "in flight", num: true, get: (q) => fmtNum(q.inFlight) },
          { title: "cached MiB", num: true, get: (q) => fmtNum(q.cachedMiB) },
          {
            title: "locked",
            get: (q) =>
              q.locked ? h("span", { class: "badge ok" }, `locked ${fmtTime(q.lastLockTimestamp)}`) : "no",
          },
          { title: "dropped", get: (q) => (q.dropped ? h("span", { class: "badge bad" }, "dropped") : "no") },
          { title: "last pull", get: (q) => fmtTime(q.lastPullTimestamp) },
          { title: "last consume", get: (q) => fmtTime(q.lastConsumeTimestamp) },
        ],
        r.queues.items,
      ),
      h("h2", {}, "Properties"),
      kvTable(r.properties),
      asOf(r.asOf),
    );
  } catch (err) {
    show(out, errorBox(err));
  }
}

/** The Consumers page's "Running info" tab: each online client, asked on request. */
export function runningInfoPanel(group, conn) {
  const out = h("div", {});
  const clients = conn?.connectionSet ?? [];
  if (clients.length === 0) return h("p", { class: "muted" }, "No client online to ask.");
  return h(
    "div",
    { "data-running-info": group },
    table(
      [
        { title: "client id", get: (c) => c.clientId },
        { title: "address", get: (c) => c.clientAddr },
        {
          title: "",
          get: (c) => h("button", { onclick: () => load(out, group, c.clientId) }, "Running info"),
        },
      ],
      clients,
    ),
    h(
      "p",
      { class: "muted" },
      "The broker relays GET_CONSUMER_RUNNING_INFO to the client (it answers within 10 s or the request fails).",
    ),
    out,
  );
}
