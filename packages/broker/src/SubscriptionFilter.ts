import { javaStringHashCode, type SubscriptionData } from "@tidemq/protocol";
import type { Sql92Filter } from "./filter/sql92/index.js";
import { sqlFilter } from "./filter/sqlFilterCache.js";

/**
 * Broker-side message filters on consume-queue tag hashes (spec §9.1). A filter is a
 * predicate on the entry's tags code; `undefined` means "everything" (`*`).
 *
 * SQL92 subscriptions have no tag filter: they are evaluated on each message's properties
 * (filter/sqlPull.ts), compiled once per expression text (filter/sqlFilterCache.ts).
 */
export type TagsCodeFilter = ((tagsCode: number) => boolean) | undefined;

export const MAX_SUBSCRIPTION_TAGS = 1000;

export function isSql92(expressionType: string | undefined): boolean {
  return expressionType?.toUpperCase() === "SQL92";
}

/** Tags of a `"a || b"` expression, trimmed, empty ones dropped; undefined for `*`/empty. */
export function parseTagExpression(subString: string | undefined): string[] | undefined {
  if (subString === undefined) return undefined;
  const text = subString.trim();
  if (text.length === 0 || text === "*") return undefined;
  const tags = text
    .split("||")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (tags.length === 0) return undefined;
  if (tags.length > MAX_SUBSCRIPTION_TAGS) {
    throw new RangeError(`the subscription lists ${tags.length} tags; at most ${MAX_SUBSCRIPTION_TAGS}`);
  }
  return tags;
}

function fromCodes(codes: Iterable<number>): TagsCodeFilter {
  const set = new Set<number>(codes);
  return (tagsCode) => set.has(tagsCode | 0);
}

/** The filter of a subscription sent in the pull itself (SUBSCRIPTION bit). */
export function filterFromExpression(
  subString: string | undefined,
  expressionType: string | undefined,
): TagsCodeFilter {
  if (isSql92(expressionType)) return undefined;
  const tags = parseTagExpression(subString);
  if (!tags) return undefined;
  return fromCodes(tags.map(javaStringHashCode));
}

/** The filter of a subscription registered by heartbeat. */
export function filterFromSubscription(sub: SubscriptionData): TagsCodeFilter {
  if (isSql92(sub.expressionType)) return undefined;
  const sub$ = sub.subString?.trim();
  if (!sub$ || sub$ === "*") return undefined;
  if (Array.isArray(sub.codeSet) && sub.codeSet.length > 0) return fromCodes(sub.codeSet);
  if (Array.isArray(sub.tagsSet) && sub.tagsSet.length > 0)
    return fromCodes(sub.tagsSet.map(javaStringHashCode));
  return filterFromExpression(sub.subString, sub.expressionType);
}

/** The compiled SQL92 filter of a subscription, or undefined for a tag subscription. */
export function sqlFilterOf(
  subString: string | undefined,
  expressionType: string | undefined,
): Sql92Filter | undefined {
  return isSql92(expressionType) ? sqlFilter(subString ?? "") : undefined;
}
