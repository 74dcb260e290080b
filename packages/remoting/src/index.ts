export { describePeer, formatAddress, parseAddress, type RemoteAddress } from "./address.js";
export { describeAdminRequest, installAdminAudit } from "./adminAudit.js";
export { type BackoffOptions, ReconnectBackoff } from "./backoff.js";
export { RemotingClient, type RemotingClientOptions } from "./client.js";
export type { Connection, RequestHandler } from "./connection-types.js";
export { RemotingClosedError, RemotingConnectError, RemotingTimeoutError } from "./errors.js";
export { FrameWriter, type FrameWriterOptions, type WriteSink } from "./frame-writer.js";
export {
  createLogger,
  defaultLogFormat,
  defaultLogLevel,
  type LogFields,
  type LogFormat,
  type Logger,
  type LogLevel,
} from "./logger.js";
export { MAX_OPAQUE, OpaqueSequence } from "./opaque.js";
export {
  DEFAULT_MAX_QUEUED_WRITE_BYTES,
  RemotingServer,
  type RemotingServerOptions,
} from "./server.js";
export { SocketConnection } from "./socket-connection.js";
