/**
 * The runtime: the only layer that talks to NATS. Turns subjects into machine events and
 * machine decisions into KV writes and publishes.
 */
export * from "./connection.ts";
export * from "./resources.ts";
