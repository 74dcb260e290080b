export * from "./KVConfigManager.js";
export * from "./NameServer.js";
export * from "./NamesrvRequestProcessor.js";
export * from "./RouteInfoManager.js";
