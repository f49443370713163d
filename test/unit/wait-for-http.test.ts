/**
 * `drover up` prints its banner only once every role's HTTP port answers (waitForHttp): a
 * leader and the workers are known through NATS before a slower scheduler has opened its port.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort, waitForHttp } from "../../src/cli/local.ts";

describe("waitForHttp", () => {
  it("returns once a port that opens late answers, whatever its status", async () => {
    const port = await freePort();
    const server = createServer((_req, res) => res.writeHead(503).end());
    let opened = 0;
    const late = setTimeout(() => {
      server.listen(port, "127.0.0.1");
      opened = Date.now();
    }, 400);
    try {
      await waitForHttp([`http://127.0.0.1:${port}/healthz`], new AbortController().signal);
      expect(opened).toBeGreaterThan(0);
      expect((server.address() as AddressInfo).port).toBe(port);
    } finally {
      clearTimeout(late);
      server.close();
    }
  });

  it("names the URL that never answered", async () => {
    const port = await freePort();
    await expect(
      waitForHttp([`http://127.0.0.1:${port}/healthz`], new AbortController().signal, 300),
    ).rejects.toThrow(`http://127.0.0.1:${port}/healthz did not answer in 0.3 s`);
  });
});
