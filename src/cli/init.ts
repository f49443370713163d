import { connectNats, ensureResources } from "../runtime/index.ts";
import { resourceSettings } from "./config.ts";
import type { Command } from "./command.ts";

/**
 * `drover init`: creates the streams and buckets (or brings them up to date) and exits. Every
 * process does this at start where its NATS user may; with least-privilege roles only the
 * admin may, so an admin runs it once before the others start (and after an upgrade).
 */
export const initCommand: Command = {
  name: "init",
  summary: "create or update the streams and buckets (as admin, before the other roles start)",
  usage: "drover init [--nats URL] [--prefix P]",
  options: {},
  async run({ config, log }) {
    const nc = await connectNats({
      servers: config.natsUrl,
      auth: config.auth,
      name: "drover-init",
      reconnectForever: false,
    });
    try {
      const r = await ensureResources(nc, config.prefix, resourceSettings(config), log);
      console.log(
        JSON.stringify({
          ok: true,
          prefix: config.prefix,
          heartbeatTtlMs: r.heartbeatTtlMs,
          leaseTtlMs: r.leaseTtlMs,
        }),
      );
      return 0;
    } finally {
      await nc.close();
    }
  },
};
