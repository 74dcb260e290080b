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
