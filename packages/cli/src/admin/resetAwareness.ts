/**
 * Which online consumers apply a reset of their group's offsets. The broker tells each online
 * consumer with a oneway RESET_CONSUMER_CLIENT_OFFSET and hears nothing back, so the tool can
 * only judge by what each client announced in its heartbeat (GET_CONSUMER_CONNECTION_LIST):
 * its language and MQVersion ordinal. A consumer that ignores the notice keeps its old offsets
 * and commits them again, undoing the reset. Pure: the caller fetches the connection list.
 */
export interface ClientAnnounce {
  clientId: string;
  clientAddr: string;
  language: string;
  version: number;
}

export interface ResetSupport {
  applies: boolean;
  /** Who the client is and why it does (not) apply the reset, for the operator. */
  why: string;
}

/** The MQVersion ordinal ali-ons sends in every command, whatever its own version. */
export const ALI_ONS_VERSION = 121;
/** Java clients from V3_0_7_SNAPSHOT take RESET_CONSUMER_CLIENT_OFFSET (older ones the broker refuses). */
const JAVA_RESET_SINCE = 28;

export function resetSupport(c: ClientAnnounce): ResetSupport {
  const lang = c.language.toUpperCase();
  if (lang === "JAVA" && c.version === ALI_ONS_VERSION) {
    return {
      applies: false,
      why: `ali-ons (it announces JAVA version ${ALI_ONS_VERSION}; it has no handler for the reset notice)`,
    };
  }
  if (lang === "JAVA" && c.version >= JAVA_RESET_SINCE) {
    return { applies: true, why: `JAVA version ${c.version} (Java and TideMQ clients apply the reset)` };
  }
  return {
    applies: false,
    why: `${c.language} version ${c.version}: not known to apply the reset notice`,
  };
}

/** The consumers of `clients` that will not (or are not known to) apply a reset, with why. */
export function unawareOfReset(clients: readonly ClientAnnounce[]): Array<ClientAnnounce & { why: string }> {
  const out: Array<ClientAnnounce & { why: string }> = [];
  for (const c of clients) {
    const s = resetSupport(c);
    if (!s.applies) out.push({ ...c, why: s.why });
  }
  return out;
}
