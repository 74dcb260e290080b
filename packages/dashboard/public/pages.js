// The console's pages, in menu order. A new page is one module in pages/ added here
// (with its API module in src/api/index.ts): see packages/dashboard/README.md.
import cluster from "./pages/cluster.js";
import consumers from "./pages/consumers.js";
import dashboard from "./pages/dashboard.js";
import deadLetters from "./pages/deadLetters.js";
import messages from "./pages/messages.js";
import producers from "./pages/producers.js";
import scheduled from "./pages/scheduled.js";
import topics from "./pages/topics.js";
import trace from "./pages/trace.js";
import transactions from "./pages/transactions.js";

export const pages = [
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
];
