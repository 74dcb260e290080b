import { readFile } from "node:fs/promises";
import {
  DashboardServer,
  DashboardStartError,
  hashPassword,
  parseUsers,
  type TlsFiles,
  type User,
} from "@tidemq/dashboard";
import { stopOnSignal } from "./broker.js";
import { parsePort } from "./port.js";

const USAGE = `usage: tidemq dashboard -n host:port[;host:port] [-p 8080] [--host 127.0.0.1] [--users FILE] [--audit FILE]
                         [--tls-cert FILE --tls-key FILE]
       tidemq dashboard passwd NAME admin|viewer   (reads the password from stdin, prints a users-file line)

Serves the web console (rocketmq-dashboard's pages) for the cluster of the NameServers.

  -n, --namesrv ADDR   NameServer addresses (default $NAMESRV_ADDR, else 127.0.0.1:9876)
  -p, --port N         HTTP port (default 8080)
  --host ADDR          address to listen on (default 127.0.0.1). On a non-loopback address
                       the console refuses to start without --users.
  --users FILE         users file: one "name role scrypt-hash" a line (role admin or viewer);
                       with it every visitor logs in. No default users exist.
  --audit FILE         audit log of write actions, JSON lines (default ./dashboard-audit.log)
  --tls-cert FILE      serve HTTPS with this PEM certificate (chain) and --tls-key's PEM private
  --tls-key FILE       key; the session cookie is then Secure. On a non-loopback address
                       without them the console warns at start (plain HTTP carries passwords).
  -h, --help           this text`;

export interface DashboardArgs {
  namesrv: string;
  port: number;
  host: string;
  users?: string;
  audit: string;
  tlsCert?: string;
  tlsKey?: string;
  help: boolean;
}

export function parseDashboardArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DashboardArgs {
  const out: DashboardArgs = {
    namesrv: env.NAMESRV_ADDR || "127.0.0.1:9876",
    port: 8080,
    host: "127.0.0.1",
    audit: "./dashboard-audit.log",
    help: false,
  };
  const value = (flag: string, v: string | undefined) => {
    if (v === undefined || v === "") throw new Error(`option ${flag} needs a value\n\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    switch (arg) {
      case "-n":
      case "--namesrv":
        out.namesrv = value(arg, argv[++i]);
        break;
      case "-p":
      case "--port":
        out.port = parsePort(arg, value(arg, argv[++i]));
        break;
      case "--host":
        out.host = value(arg, argv[++i]);
        break;
      case "--users":
        out.users = value(arg, argv[++i]);
        break;
      case "--audit":
        out.audit = value(arg, argv[++i]);
        break;
      case "--tls-cert":
        out.tlsCert = value(arg, argv[++i]);
        break;
      case "--tls-key":
        out.tlsKey = value(arg, argv[++i]);
        break;
      case "-h":
      case "--help":
        out.help = true;
        break;
      default:
        throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  if ((out.tlsCert === undefined) !== (out.tlsKey === undefined))
    throw new Error(`--tls-cert and --tls-key go together (the certificate and its private key)\n\n${USAGE}`);
  return out;
}

/** Reads the TLS files; a missing or unreadable one is a clear start error. */
async function loadTls(args: DashboardArgs): Promise<TlsFiles | undefined> {
  if (args.tlsCert === undefined || args.tlsKey === undefined) return undefined;
  const read = (flag: string, file: string) =>
    readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new DashboardStartError(`cannot read ${flag} ${file}: ${err.code ?? err.message}`);
    });
  return { cert: await read("--tls-cert", args.tlsCert), key: await read("--tls-key", args.tlsKey) };
}

export async function loadUsers(file: string): Promise<Map<string, User>> {
  return parseUsers(await readFile(file, "utf8"), file);
}

async function passwd(argv: string[]): Promise<void> {
  const [name, role] = argv;
  if (!name || (role !== "admin" && role !== "viewer"))
    throw new Error(`usage: tidemq dashboard passwd NAME admin|viewer`);
  if (process.stdin.isTTY) process.stderr.write("password (then Enter): ");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  const password = Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
  console.log(`${name} ${role} ${await hashPassword(password)}`);
}

/** Starts the console; what `tidemq dev` calls too. A busy port or a refused address is a clear error. */
export async function startDashboard(args: DashboardArgs): Promise<DashboardServer> {
  const users = args.users ? await loadUsers(args.users) : undefined;
  const tls = await loadTls(args);
  const server = new DashboardServer({
    ...(tls ? { tls } : {}),
    namesrv: args.namesrv,
    host: args.host,
    port: args.port,
    users,
    auditFile: args.audit,
  });
  await server.start();
  return server;
}

export async function run(argv: string[]): Promise<void> {
  if (argv[0] === "passwd") return passwd(argv.slice(1));
  const args = parseDashboardArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  let server: DashboardServer;
  try {
    server = await startDashboard(args);
  } catch (err) {
    if (err instanceof DashboardStartError) {
      console.error(`tidemq dashboard: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  console.log(
    `TideMQ console on ${server.url} for NameServer ${args.namesrv}\n  ${
      server.loginRequired
        ? `login required (users from ${args.users})`
        : "no login: loopback only (start with --users FILE to require one)"
    }\n  ${server.tls ? `HTTPS with ${args.tlsCert}; session cookie Secure` : "plain HTTP (--tls-cert/--tls-key for HTTPS)"}\n  audit log: ${args.audit}`,
  );
  stopOnSignal("tidemq dashboard", () => server.stop());
}
