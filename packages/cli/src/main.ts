/**
 * The `tidemq` executable: one command per RocketMQ script (DESIGN.md, command-line contract).
 * Each subcommand lives in commands/<name>.ts and exports `run(argv)`.
 */
const commands: Record<
  string,
  { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> }> }
> = {
  namesrv: { summary: "start a NameServer (mqnamesrv)", load: () => import("./commands/namesrv.js") },
  broker: { summary: "start a broker (mqbroker)", load: () => import("./commands/broker.js") },
  dev: {
    summary:
      "start a NameServer, a 3-replica DLedger group and the web console, data under ./data (--replicas 1: one broker)",
    load: () => import("./commands/dev.js"),
  },
  admin: { summary: "administer a cluster (mqadmin subcommands)", load: () => import("./commands/admin.js") },
  bench: {
    summary: "pressure-test a cluster (producer | consumer)",
    load: () => import("./commands/bench.js"),
  },
  dashboard: {
    summary: "serve the web console (rocketmq-dashboard)",
    load: () => import("./commands/dashboard.js"),
  },
};

function usage(): string {
  const lines = ["usage: tidemq <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push("", "Run `tidemq <command> --help` for the options of one command.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return;
  }
  const command = commands[name];
  if (!command) {
    console.error(`tidemq: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  const mod = await command.load();
  await mod.run(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as Error;
  console.error(`tidemq: ${e?.message ?? String(err)}`);
  if (process.env.TIDEMQ_DEBUG) console.error(e?.stack);
  process.exitCode = 1;
});
