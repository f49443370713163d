import { connectNats, ensureResources } from "../runtime/index.ts";
import { resourceSettings } from "./config.ts";
import type { Command } from "./command.ts";

/** `drover health`: connects, sets up streams and buckets, prints one JSON line, exits. */
export const healthCommand: Command = {
  name: "health",
  summary: "connect to NATS, set up streams and buckets, report health",
  usage: "drover health [--nats URL] [--prefix P] [--json]",
  // One JSON line either way; --json is accepted like on every read command.
  options: { json: { type: "boolean", default: false } },
  async run({ config }) {
    const started = Date.now();
    const nc = await connectNats({
      servers: config.natsUrl,
      auth: config.auth,
      name: "drover-health",
      reconnectForever: false,
    });
    try {
      await ensureResources(nc, config.prefix, resourceSettings(config));
      const rtt = await nc.rtt();
      console.log(
        JSON.stringify({
          healthy: true,
          server: nc.info?.server_name,
          version: nc.info?.version,
          jetstream: nc.info?.jetstream === true,
          prefix: config.prefix,
          rttMs: rtt,
          tookMs: Date.now() - started,
        }),
      );
      return 0;
    } finally {
      await nc.close();
    }
  },
};
