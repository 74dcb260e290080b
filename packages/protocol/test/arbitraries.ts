import fc from "fast-check";
import { LanguageCodes } from "../src/codes.js";
import { type RemotingCommand, SerializeType } from "../src/command.js";
import { NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, type Properties } from "../src/properties.js";

/** Shared fast-check generators for the protocol tests. */

const INT32 = { min: -2147483648, max: 2147483647 };
const INT16 = { min: -32768, max: 32767 };

/** Any Unicode text without lone surrogates (so it survives UTF-8). */
export const unicode = (maxLength = 24) => fc.string({ unit: "binary", maxLength });

/** Mixed text: mostly a few characters, sometimes CJK/emoji/controls. */
export const text = (maxLength = 24) =>
  fc.oneof(
    fc.string({ maxLength }),
    unicode(maxLength),
    fc.constantFrom(
      "中文标签",
      "ключ",
      "😀 emoji",
      "tab\there",
      'quote"and\\slash',
      "__proto__",
      "constructor",
    ),
  );

export const body = fc.option(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  { nil: undefined },
);

/** A random command in the given serialization; binary commands respect the binary header's field widths. */
export function command(serializeType: SerializeType): fc.Arbitrary<RemotingCommand> {
  const binary = serializeType === SerializeType.ROCKETMQ;
  return fc.record(
    {
      code: fc.integer(binary ? INT16 : INT32),
      language: binary
        ? fc.constantFrom(...LanguageCodes)
        : fc.oneof(fc.constantFrom(...LanguageCodes), text(8)),
      version: fc.integer(binary ? INT16 : INT32),
      opaque: fc.integer(INT32),
      flag: fc.integer(INT32),
      remark: fc.option(text(40), { nil: undefined }),
      extFields: fc.option(fc.dictionary(text(12), text(30), { maxKeys: 6, noNullPrototype: true }), {
        nil: undefined,
      }),
      body,
      serializeType: fc.constant(serializeType),
    },
    { noNullPrototype: true },
  );
}

export const anyCommand = fc.oneof(command(SerializeType.JSON), command(SerializeType.ROCKETMQ));

/**
 * What a command looks like after a trip through the wire: an empty body is no body; the
 * binary header drops empty remarks, empty keys and empty values (Java reads them as null);
 * JSON omits an empty extFields object.
 */
export function afterWire(cmd: RemotingCommand): RemotingCommand {
  const out: RemotingCommand = {
    code: cmd.code,
    language: cmd.language,
    version: cmd.version,
    opaque: cmd.opaque,
    flag: cmd.flag,
    serializeType: cmd.serializeType,
  };
  const binary = cmd.serializeType === SerializeType.ROCKETMQ;
  if (cmd.remark !== undefined && !(binary && cmd.remark === "")) out.remark = cmd.remark;
  if (cmd.extFields) {
    const ext: Record<string, string> = {};
    for (const [k, v] of Object.entries(cmd.extFields)) {
      if (binary && (k === "" || v === "")) continue;
      Object.defineProperty(ext, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    if (Object.keys(ext).length > 0) out.extFields = ext;
  }
  if (cmd.body && cmd.body.length > 0) out.body = cmd.body;
  return out;
}

/** Property names and values that survive encode/parse: non-empty names without separators, values without \u0002. */
const propName = text(12)
  .map((s) => s.replaceAll(NAME_VALUE_SEPARATOR, "").replaceAll(PROPERTY_SEPARATOR, ""))
  .filter((s) => s.length > 0);
const propValue = text(40).map((s) => s.replaceAll(PROPERTY_SEPARATOR, ""));
export const properties: fc.Arbitrary<Properties> = fc.dictionary(propName, propValue, {
  maxKeys: 6,
  noNullPrototype: true,
});

/** Hosts as the store writes them. */
export const ipv4Host = fc.ipV4();
export const anyHost = fc.oneof(fc.ipV4(), fc.ipV6());
export const port = fc.integer({ min: 0, max: 65535 });

/** Non-negative 64-bit values that JS numbers hold exactly. */
export const offset = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const timestamp = fc.integer({ min: 0, max: 4102444800000 });

/** Splits `buf` at random points into 1…8 chunks (views, no copies). */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * (buf.length + 1))))]
    .filter((p) => p > 0 && p < buf.length)
    .sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(buf.subarray(last, p));
    last = p;
  }
  chunks.push(buf.subarray(last));
  return chunks;
}
export const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });
