import { compileSql92, type Sql92Filter } from "./sql92/index.js";

/** Compiled expressions kept; a subscription is compiled once, not per pull. */
const MAX_CACHED = 1024;
const cache = new Map<string, Sql92Filter>();

/**
 * The compiled filter of an SQL92 expression, from a small LRU cache keyed by the text
 * (clients repeat their subscription in every pull and heartbeat). Throws Sql92ParseError
 * (SUBSCRIPTION_PARSE_FAILED) for a malformed expression; failures are not cached.
 */
export function sqlFilter(expression: string): Sql92Filter {
  const hit = cache.get(expression);
  if (hit) {
    cache.delete(expression);
    cache.set(expression, hit);
    return hit;
  }
  const compiled = compileSql92(expression);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(expression, compiled);
  return compiled;
}
