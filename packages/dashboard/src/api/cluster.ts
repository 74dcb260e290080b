import { mapLimit } from "../Bounded.js";
import type { Route } from "../http.js";
import { str } from "../http.js";

/** First number of RocketMQ's "10s 60s 600s" TPS string. */
function tps10(v: string | undefined): number {
  return Number((v ?? "0").split(" ")[0]) || 0;
}

/** Cluster page: every broker with role, version, TPS and today's totals; status and config tables on demand. */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/cluster",
    async handle({ data }) {
      const info = await data.clusterInfo();
      const brokers = await data.brokers();
      const rows = await mapLimit(brokers, 16, async (b) => {
        try {
          const { value: t, asOf } = await data.runtime(b.addr);
          const n = (k: string) => Number(t[k] ?? 0);
          return {
            ...b,
            role: b.brokerId === 0 ? "MASTER" : `SLAVE (id ${b.brokerId})`,
            version: t.brokerVersionDesc ?? "",
            putTps: tps10(t.putTps),
            getTps: tps10(t.getTransferedTps),
            putToday: n("msgPutTotalTodayNow") - n("msgPutTotalTodayMorning"),
            getToday: n("msgGetTotalTodayNow") - n("msgGetTotalTodayMorning"),
            putYesterday: n("msgPutTotalTodayMorning") - n("msgPutTotalYesterdayMorning"),
            getYesterday: n("msgGetTotalTodayMorning") - n("msgGetTotalYesterdayMorning"),
            runtime: t.runtime ?? "",
            diskRatio: Number(t.commitLogDiskRatio ?? 0),
            asOf,
          };
        } catch (err) {
          return { ...b, role: b.brokerId === 0 ? "MASTER" : "SLAVE", error: (err as Error).message };
        }
      });
      return {
        namesrv: data.namesrv,
        clusters: Object.keys(info.value.clusterAddrTable).sort(),
        brokers: rows,
        asOf: info.asOf,
      };
    },
  },
  {
    method: "GET",
    path: "/api/cluster/brokerStatus",
    async handle({ data, query }) {
      const b = await data.knownBroker(str(query, "addr"));
      const { value, asOf } = await data.runtime(b.addr);
      return { broker: b, table: value, asOf };
    },
  },
  {
    method: "GET",
    path: "/api/cluster/brokerConfig",
    async handle({ data, query }) {
      const b = await data.knownBroker(str(query, "addr"));
      return { broker: b, table: await data.admin.getBrokerConfig(b.addr), asOf: Date.now() };
    },
  },
];
