import { randomBytes, type ScryptOptions, scrypt as scryptCb, timingSafeEqual } from "node:crypto";

/**
 * The console's users file: one user a line, `name role hash`, `#` starts a comment.
 * role is `admin` (may change the cluster) or `viewer` (reads only; the server refuses its
 * writes). hash is `scrypt$N$r$p$salt$key` (base64url salt and key) as made by
 * `tidemq dashboard passwd`. There are no default users and no default passwords.
 */
export type Role = "admin" | "viewer";

export interface User {
  name: string;
  role: Role;
  hash: string;
}

export class UsersFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsersFileError";
  }
}

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
/** scrypt cost: N=2^15, r=8, p=1 (about 32 MiB and 50-100 ms a login; OWASP's minimum is 2^17 for r=8,p=1 with ~128 MiB — we keep memory modest for a 2-core box). */
const DEFAULT_PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEY_LEN = 32;
const MAX_USERS = 1000;

function scrypt(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEY_LEN, { ...o, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, params = DEFAULT_PARAMS): Promise<string> {
  if (password.length < 8) throw new UsersFileError("a password needs at least 8 characters");
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(hash: string): ParsedHash | undefined {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(hash);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // N a power of two; bounds keep a hostile file from pinning the CPU or memory.
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const key = Buffer.from(m[5]!, "base64url");
  if (key.length !== KEY_LEN) return undefined;
  return { N, r, p, salt: Buffer.from(m[4]!, "base64url"), key };
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (!h) return false;
  const key = await scrypt(password, h.salt, { N: h.N, r: h.r, p: h.p });
  return timingSafeEqual(key, h.key);
}

/** Parses a users file's text; any bad line is an error naming the line (the console does not start). */
export function parseUsers(text: string, source = "users file"): Map<string, User> {
  const users = new Map<string, User>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const where = `${source} line ${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) throw new UsersFileError(`${where}: expected "name role hash"`);
    const [name, role, hash] = parts as [string, string, string];
    if (!NAME.test(name)) throw new UsersFileError(`${where}: bad user name "${name}"`);
    if (role !== "admin" && role !== "viewer")
      throw new UsersFileError(`${where}: role must be admin or viewer, not "${role}"`);
    if (!parseHash(hash))
      throw new UsersFileError(
        `${where}: the password must be an scrypt hash (make one with \`tidemq dashboard passwd\`), never a plain password`,
      );
    if (users.has(name)) throw new UsersFileError(`${where}: user ${name} appears twice`);
    users.set(name, { name, role, hash });
    if (users.size > MAX_USERS) throw new UsersFileError(`${source}: more than ${MAX_USERS} users`);
  }
  if (users.size === 0) throw new UsersFileError(`${source}: no users`);
  return users;
}
