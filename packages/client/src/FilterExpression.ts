import { javaStringHashCode, type SubscriptionData } from "@tidemq/protocol";
import { ClientError } from "./errors.js";

/** Filter kinds, numbered as in rocketmq-client-nodejs (protobuf FilterType). */
export const FilterType = { TAG: 1, SQL: 2 } as const;
export type FilterType = (typeof FilterType)[keyof typeof FilterType];

/** A subscription filter: a tag expression ("*", "TagA || TagB") or an SQL92 expression. */
export class FilterExpression {
  static readonly SUB_ALL: FilterExpression = new FilterExpression("*");
  readonly expression: string;
  readonly filterType: FilterType;
  constructor(expression: string, filterType: FilterType = FilterType.TAG) {
    if (typeof expression !== "string") throw new ClientError("filter expression must be a string");
    this.expression = expression;
    this.filterType = filterType;
  }
  equals(other: FilterExpression | undefined): boolean {
    return !!other && other.expression === this.expression && other.filterType === this.filterType;
  }
  toString(): string {
    return `FilterExpression(${this.filterType === FilterType.SQL ? "SQL" : "TAG"},${this.expression})`;
  }
}

/** Accepts what the official client accepts in a subscriptions map: an expression or a tag string. */
export function toFilterExpression(value: FilterExpression | string | undefined): FilterExpression {
  if (value === undefined) return FilterExpression.SUB_ALL;
  if (typeof value === "string") return new FilterExpression(value);
  if (value instanceof FilterExpression) return value;
  throw new ClientError("a subscription must be a FilterExpression or a tag expression string");
}

/** Builds the SubscriptionData a heartbeat and a pull carry (spec §4, §9.1). */
export function buildSubscriptionData(
  topic: string,
  filter: FilterExpression,
  subVersion: number,
): SubscriptionData {
  if (filter.filterType === FilterType.SQL) {
    if (filter.expression.trim().length === 0)
      throw new ClientError(`empty SQL92 expression for topic ${topic}`);
    return {
      classFilterMode: false,
      topic,
      subString: filter.expression,
      tagsSet: [],
      codeSet: [],
      subVersion,
      expressionType: "SQL92",
    };
  }
  const text = filter.expression.trim();
  if (text === "" || text === "*") {
    return {
      classFilterMode: false,
      topic,
      subString: "*",
      tagsSet: [],
      codeSet: [],
      subVersion,
      expressionType: "TAG",
    };
  }
  const tags = [
    ...new Set(
      text
        .split("||")
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    ),
  ];
  if (tags.length === 0) throw new ClientError(`tag expression "${filter.expression}" names no tag`);
  return {
    classFilterMode: false,
    topic,
    subString: tags.join(" || "),
    tagsSet: tags,
    codeSet: tags.map(javaStringHashCode),
    subVersion,
    expressionType: "TAG",
  };
}

/**
 * Client-side re-check of a tag subscription: the broker filters by tag hash, so collisions
 * can slip through. Like Java, a message without a tag does not match a tag list.
 */
export function tagMatches(sub: SubscriptionData, tag: string | undefined): boolean {
  if (sub.expressionType === "SQL92") return true;
  if (sub.subString === "*" || sub.tagsSet.length === 0) return true;
  return tag !== undefined && sub.tagsSet.includes(tag);
}
