/**
 * One broker's own state in `tidemq admin`: brokerStatus (its runtime table), getBrokerConfig
 * and updateBrokerConfig, for -b one broker or -c every broker of a cluster.
 */
import { addrOption, UsageError } from "./args.js";
import { targetBrokers } from "./calls.js";
import type { Handler } from "./handlers.js";
import { type Cell, formatTable } from "./table.js";

export const brokerStatus: Handler = async ({ admin, values }) => {
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c, false);
  // With -c the address column is always there, so scripts see one shape per flag.
  const perCluster = values.c !== undefined;
  const json: Record<string, Record<string, string>> = {};
  const rows: Cell[][] = [];
  for (const addr of addrs) {
    const table = await admin.getBrokerRuntimeInfo(addr);
    json[addr] = table;
    for (const key of Object.keys(table).sort())
      rows.push(perCluster ? [addr, key, table[key]] : [key, table[key]]);
  }
  const headers = perCluster ? ["#Broker Addr", "#Key", "#Value"] : ["#Key", "#Value"];
  return { text: formatTable(headers, rows), json: perCluster ? json : json[addrs[0]!] };
};

export const getBrokerConfigCmd: Handler = async ({ admin, values }) => {
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  const json: Record<string, Record<string, string>> = {};
  const blocks: string[] = [];
  for (const addr of addrs) {
    const config = await admin.getBrokerConfig(addr);
    json[addr] = config;
    const keys = Object.keys(config).sort();
    const width = Math.max(0, ...keys.map((k) => k.length));
    blocks.push(
      [
        `============${addr}============`,
        ...keys.map((k) => `${k.padEnd(width)}  =  ${config[k]}`.trimEnd()),
      ].join("\n"),
    );
  }
  return { text: blocks.join("\n\n"), json: values.c !== undefined ? json : json[addrs[0]!] };
};

export const updateBrokerConfigCmd: Handler = async ({ admin, values }) => {
  const key = values.k!.trim();
  const value = values.v!;
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(key))
    throw new UsageError(`option -k must be a config key, got "${key}"`);
  if (/[\r\n]/.test(value)) throw new UsageError("option -v must be one line");
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  for (const addr of addrs) await admin.updateBrokerConfig(addr, { [key]: value });
  return {
    text: addrs.map((a) => `update broker config success, ${a}: ${key}=${value}`).join("\n"),
    json: { key, value, brokers: addrs },
  };
};
