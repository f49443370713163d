import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/cli/config.ts";
import { authEnv, authOptions, checkAuth } from "../../src/runtime/index.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-auth-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("NATS credentials options", () => {
  it("refuses combinations NATS would refuse or ignore, with the reason", () => {
    expect(() => checkAuth({ user: "a", password: "b", token: "t" })).toThrow(
      /one of user\/password, token, creds or nkey \(got user, token\)/,
    );
    expect(() => checkAuth({ creds: "x.creds", nkey: "x.nk" })).toThrow(/got creds, nkey/);
    expect(() => checkAuth({ password: "b" })).toThrow(/a password needs a user/);
    expect(() => checkAuth({ tlsCert: "c.pem" })).toThrow(/certificate and its key go together/);
    expect(() => checkAuth({ user: "a", password: "b", tlsCa: "ca.pem" })).not.toThrow();
  });

  it("maps to nats.js options: user/password, token, a lone user as a token, TLS files", () => {
    expect(authOptions({ user: "a", password: "b" })).toEqual({ user: "a", pass: "b" });
    expect(authOptions({ token: "t" })).toEqual({ token: "t" });
    expect(authOptions({ user: "t" })).toEqual({ token: "t" });
    expect(authOptions({})).toEqual({});
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n");
    expect(authOptions({ tlsCa: ca })).toEqual({ tls: { caFile: ca } });
  });

  it("reads seed and creds files, and names a missing or unusable one", () => {
    const seed = new TextDecoder().decode(createUser().getSeed());
    const nk = join(dir, "user.nk");
    writeFileSync(nk, `# a comment\n${seed}\n`);
    expect(typeof authOptions({ nkey: nk }).authenticator).toBe("function");
    const bad = join(dir, "bad.nk");
    writeFileSync(bad, "not a seed\n");
    expect(() => authOptions({ nkey: bad })).toThrow(/bad\.nk: no user seed/);
    expect(() => authOptions({ creds: join(dir, "missing.creds") })).toThrow(
      /creds file .*missing\.creds: ENOENT/,
    );
    expect(() => authOptions({ tlsCa: join(dir, "nope.pem") })).toThrow(/TLS CA file .*ENOENT/);
  });

  it("goes to child processes as the nats CLI's env variables", () => {
    expect(authEnv({ user: "a", password: "b", tlsCa: "/ca.pem" })).toEqual({
      NATS_USER: "a",
      NATS_PASSWORD: "b",
      NATS_CA: "/ca.pem",
    });
    expect(authEnv({})).toEqual({});
  });

  it("config: flags beat env, an empty variable is unset, a bad combination is a usage error", () => {
    const env = { NATS_USER: "env-user", NATS_PASSWORD: "env-pass", NATS_TOKEN: "" };
    expect(loadConfig(env).auth).toMatchObject({ user: "env-user", password: "env-pass" });
    expect(loadConfig(env).auth.token).toBeUndefined();
    expect(loadConfig(env, { user: "flag-user" }).auth.user).toBe("flag-user");
    expect(() => loadConfig({ ...env, NATS_CREDS: "/x.creds" })).toThrow(/got user, creds/);
  });
});
