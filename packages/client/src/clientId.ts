import { networkInterfaces } from "node:os";

/** First non-internal IPv4 address of this host (what RocketMQ clients report), else 127.0.0.1. */
function localIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) if (ni.family === "IPv4" && !ni.internal) return ni.address;
  }
  return "127.0.0.1";
}

/** "ip@pid", or "ip@pid@instanceName" (RocketMQ's clientId, with the pid as instance by default). */
export function buildClientId(instanceName: string | undefined, ip = localIPv4(), pid = process.pid): string {
  return instanceName ? `${ip}@${pid}@${instanceName}` : `${ip}@${pid}`;
}
