import type { Route } from "../http.js";
import * as cluster from "./cluster.js";
import * as consumerStatus from "./consumerStatus.js";
import * as consumers from "./consumers.js";
import * as dashboard from "./dashboard.js";
import * as deadLetters from "./deadLetters.js";
import * as messages from "./messages.js";
import * as producers from "./producers.js";
import * as scheduled from "./scheduled.js";
import * as topics from "./topics.js";
import * as trace from "./trace.js";
import * as transactions from "./transactions.js";

/**
 * Every API endpoint, one module per page. A new page's endpoints are one more module here
 * (and its UI one more file in public/pages.js): see README.md "Adding a page".
 */
export const apiModules: Array<{ routes: Route[] }> = [
  cluster,
  dashboard,
  topics,
  consumers,
  producers,
  messages,
  deadLetters,
  scheduled,
  transactions,
  trace,
  consumerStatus,
];
