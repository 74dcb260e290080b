import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Role } from "./Users.js";

/**
 * Server-side sessions: the cookie holds only a random id; the user, role and CSRF token
 * live here. A session ends after `idleMs` without use. Bounded: past `maxSessions` the
 * least recently used one is dropped.
 */
export interface Session {
  id: string;
  /** undefined for the anonymous session of a loopback console without users. */
  user: string | undefined;
  role: Role;
  /** Sent back by the page in the X-CSRF-Token header of every write. */
  csrf: string;
  lastUsed: number;
}

export const SESSION_COOKIE = "tidemq_session";

export class Sessions {
  private readonly table = new Map<string, Session>();

  constructor(
    private readonly idleMs = 8 * 3600_000,
    private readonly maxSessions = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string | undefined, role: Role): Session {
    if (this.table.size >= this.maxSessions) {
      const oldest = this.table.keys().next().value;
      if (oldest !== undefined) this.table.delete(oldest);
    }
    const s: Session = {
      id: randomBytes(32).toString("base64url"),
      user,
      role,
      csrf: randomBytes(32).toString("base64url"),
      lastUsed: this.now(),
    };
    this.table.set(s.id, s);
    return s;
  }

  /** The live session of `id`, touched (moved to the recent end); undefined when unknown or idle too long. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.table.get(id);
    if (!s) return undefined;
    this.table.delete(id);
    if (this.now() - s.lastUsed > this.idleMs) return undefined;
    s.lastUsed = this.now();
    this.table.set(id, s);
    return s;
  }

  delete(id: string): void {
    this.table.delete(id);
  }
}

/** Constant-time comparison of the CSRF token a request carries with the session's. */
export function csrfMatches(session: Session, token: string | undefined): boolean {
  if (!token) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Set-Cookie for a session: HttpOnly (no script reads it), SameSite=Strict (no other site
 * sends it), Secure when the console serves HTTPS (the browser never sends it over plain HTTP).
 */
export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

export function clearedSessionCookie(secure = false): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
}
