import { decodeObjectKeyMap, type MessageQueue } from "@tidemq/protocol";

/**
 * Reads the map at `"field":` of a fastjson body whose keys are MessageQueue objects
 * (`{"offsetTable":{{"brokerName":…}:5}}`, spec §1.9). Empty when the field is absent.
 */
export function objectKeyMapField<V>(text: string, field: string): Array<[MessageQueue, V]> {
  const i = text.indexOf(`"${field}"`);
  if (i < 0) return [];
  return decodeObjectKeyMap<MessageQueue, V>(text.slice(text.indexOf(":", i) + 1));
}

/** Parses Java properties text (key=value lines, # comments), as GET_BROKER_CONFIG sends it. */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    const i = line.search(/[=:]/);
    const key = (i < 0 ? line : line.slice(0, i)).trim();
    // defineProperty: a key such as "__proto__" is data, not the object's prototype.
    if (key)
      Object.defineProperty(out, key, { value: i < 0 ? "" : line.slice(i + 1).trim(), enumerable: true });
  }
  return out;
}
