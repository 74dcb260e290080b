/**
 * `tidemq admin <subcommand>`: mqadmin's subcommands over the 4.x protocol. Tables by
 * default, `--json` for scripts; a failure is one line on stderr
 * (`tidemq admin: <subcommand>: <reason>`) and a non-zero exit status, with the stack only
 * under --debug or TIDEMQ_DEBUG=1.
 */
import { Admin, parseEndpoints } from "@tidemq/client";
import { createLogger, type Logger } from "@tidemq/remoting";
import { parseArgs, UsageError, usageOf } from "../admin/args.js";
import { AdminCallError } from "../admin/calls.js";
import { HANDLERS } from "../admin/handlers.js";
import { adminUsage, findSpec } from "../admin/specs.js";
import { oneLine } from "../admin/table.js";

/** Exit status of a command-line mistake (as the other tidemq commands). */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
/** Longest a subcommand may take before it is declared stuck (requests have their own timeouts). */
const COMMAND_TIMEOUT_MS = 120_000;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function debugWanted(argv: readonly string[]): boolean {
  const env = process.env.TIDEMQ_DEBUG;
  return argv.includes("--debug") || (env !== undefined && env !== "" && env !== "0" && env !== "false");
}

/** Adds the likely cause to the errors people meet first. */
export function explain(message: string, nameServers: readonly string[]): string {
  if (/ECONNREFUSED|unreachable|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|no response from/.test(message)) {
    if (nameServers.some((ns) => message.includes(ns)))
      return `${message} (is a NameServer running? pass -n)`;
    return `${message} (is the broker running?)`;
  }
  // A broker answers NameServer requests (routes, cluster info, topic list) with
  // REQUEST_CODE_NOT_SUPPORTED: the usual cause is -n given a broker's port.
  const wrong = nameServers.find((ns) => message.includes(`${ns}: REQUEST_CODE_NOT_SUPPORTED`));
  if (wrong) {
    return (
      `${message} (${wrong} is not a NameServer — a broker, probably: -n takes NameServer addresses, ` +
      "port 9876 by default; a broker's address goes to -b)"
    );
  }
  return message;
}

function fail(sub: string, err: unknown, debug: boolean, nameServers: readonly string[]): void {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`tidemq admin: ${sub}: ${oneLine(explain(e.message, nameServers))}\n`);
  if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exitCode = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}

export async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const debug = debugWanted(argv);
  if (!name || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(`${adminUsage()}\n`);
    if (!name) process.exitCode = EXIT_USAGE;
    return;
  }
  const spec = findSpec(name);
  if (!spec) {
    fail(name, new UsageError(`unknown subcommand (run \`tidemq admin --help\` for the list)`), debug, []);
    return;
  }
  let nameServers: string[] = [];
  let admin: Admin | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const args = parseArgs(spec, rest, process.env);
    if (args.help) {
      process.stdout.write(`${usageOf(spec)}\n`);
      return;
    }
    try {
      nameServers = parseEndpoints(args.namesrv);
    } catch (err) {
      throw new UsageError(`option -n: ${(err as Error).message}`);
    }
    if (nameServers.length === 0) throw new UsageError("option -n needs host:port");
    const logger = debug ? createLogger("admin", "debug") : silent;
    admin = new Admin({ namesrvAddr: nameServers, logger });
    const work = HANDLERS[spec.name]!({ admin, nameServers, values: args.values, logger });
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AdminCallError(`no result within ${COMMAND_TIMEOUT_MS / 1000} s`)),
        COMMAND_TIMEOUT_MS,
      );
    });
    const out = await Promise.race([work, stuck]);
    process.stdout.write(
      args.json ? `${JSON.stringify(out.json, null, 2)}\n` : out.text ? `${out.text}\n` : "",
    );
  } catch (err) {
    fail(spec.name, err, debug, nameServers);
  } finally {
    if (timer) clearTimeout(timer);
    await admin?.shutdown().catch(() => {});
    // A client left with an open socket must not keep the command alive once it is done.
    setTimeout(() => process.exit(), 2000).unref();
  }
}
