/**
 * `tidemq bench producer|consumer`: the pressure-test tool, in the spirit of RocketMQ's
 * benchmark scripts (benchmark/producer.sh, consumer.sh). The loops and statistics live in
 * ../bench/ apart from the client, so tests can drive them directly.
 */
import {
  CONSUMER_USAGE,
  PRODUCER_USAGE,
  parseConsumerArgs,
  parseProducerArgs,
  UsageError,
} from "../bench/options.js";
import { Reporter, stdoutSink } from "../bench/Reporter.js";
import { runConsumer } from "../bench/runConsumer.js";
import { runProducer } from "../bench/runProducer.js";

const USAGE = `usage: tidemq bench producer|consumer [options]

  producer   send messages and report send TPS and response times every second
  consumer   consume and report TPS and end-to-end latency every second

Run \`tidemq bench producer --help\` or \`tidemq bench consumer --help\` for the options.`;

export async function run(argv: string[]): Promise<void> {
  const [role, ...rest] = argv;
  let code: number;
  try {
    if (role === "producer") {
      const o = parseProducerArgs(rest);
      if (o.help) return void console.log(PRODUCER_USAGE);
      code = await runProducer(o, new Reporter(stdoutSink, o.json));
    } else if (role === "consumer") {
      const o = parseConsumerArgs(rest);
      if (o.help) return void console.log(CONSUMER_USAGE);
      code = await runConsumer(o, new Reporter(stdoutSink, o.json));
    } else if (role === undefined || role === "-h" || role === "--help") {
      console.log(USAGE);
      return;
    } else {
      throw new UsageError(`unknown bench role "${role}": producer or consumer`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tidemq bench: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  process.exitCode = code;
  // The clients are shut down by now; a socket or timer left behind by them must not keep
  // a finished benchmark alive (the timer is unref'd: it only fires if something else is).
  setTimeout(() => process.exit(code), 2000).unref();
}
