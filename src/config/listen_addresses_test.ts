import assert from "node:assert/strict";
import { type ListenAddress, serverListenAddresses } from "./listen_addresses.ts";
import { connectHost } from "../shared/host_port.ts";
import { parseServerConfig } from "./format.ts";

function addresses(
  config: string,
  options: { monitorPort?: number; extraArgs?: string[] } = {},
): ListenAddress[] {
  const root = parseServerConfig(config, "/etc/nats/server.conf", { env: {} }).root;
  return serverListenAddresses(root, {
    confPath: "/etc/nats/server.conf",
    monitorPort: options.monitorPort ?? 0,
    extraArgs: options.extraArgs ?? [],
  });
}

Deno.test("which addresses nats-server will listen on", async (t) => {
  const cases: [string, string, { monitorPort?: number; extraArgs?: string[] }, ListenAddress[]][] =
    [
      ["no setting: 0.0.0.0:4222", "", {}, [{
        role: "client",
        host: "0.0.0.0",
        port: 4222,
        setting: "the default client port 4222 (no port in server.conf)",
      }]],
      ["port and host", "host: 127.0.0.1\nport: 14222", {}, [{
        role: "client",
        host: "127.0.0.1",
        port: 14222,
        setting: "port in server.conf",
      }]],
      ["net is host", "net: 10.0.0.5\nport: 4333", {}, [{
        role: "client",
        host: "10.0.0.5",
        port: 4333,
        setting: "port in server.conf",
      }]],
      ["listen host:port", "listen: 127.0.0.1:5222", {}, [{
        role: "client",
        host: "127.0.0.1",
        port: 5222,
        setting: "listen in server.conf",
      }]],
      ["a quoted port alone is not host:port: the default stays", 'listen: "5223"', {}, [{
        role: "client",
        host: "0.0.0.0",
        port: 4222,
        setting: "the default client port 4222 (no port in server.conf)",
      }]],
      ["listen as a number", "listen: 5224", {}, [{
        role: "client",
        host: "0.0.0.0",
        port: 5224,
        setting: "listen in server.conf",
      }]],
      ["listen [::1]:port", 'listen: "[::1]:5225"', {}, [{
        role: "client",
        host: "::1",
        port: 5225,
        setting: "listen in server.conf",
      }]],
      ["port -1 is random: nothing to check", "port: -1", {}, []],
      ["setting names are case-insensitive", "PORT: 6222\nHost: 127.0.0.2", {}, [{
        role: "client",
        host: "127.0.0.2",
        port: 6222,
        setting: "PORT in server.conf",
      }]],
      ["NATS_MONITOR_PORT on the client host", "host: 127.0.0.1\nport: 4222", {
        monitorPort: 8222,
      }, [
        { role: "client", host: "127.0.0.1", port: 4222, setting: "port in server.conf" },
        { role: "monitor", host: "127.0.0.1", port: 8222, setting: "NATS_MONITOR_PORT" },
      ]],
      ["http host with -m's port", 'port: 4222\nhttp: "127.0.0.9:9000"', { monitorPort: 8222 }, [
        { role: "client", host: "0.0.0.0", port: 4222, setting: "port in server.conf" },
        { role: "monitor", host: "127.0.0.9", port: 8222, setting: "NATS_MONITOR_PORT" },
      ]],
      ["config monitor port when NATS_MONITOR_PORT is 0", "port: 4222\nhttp_port: 8333", {}, [
        { role: "client", host: "0.0.0.0", port: 4222, setting: "port in server.conf" },
        { role: "monitor", host: "0.0.0.0", port: 8333, setting: "http_port in server.conf" },
      ]],
      ["arguments after -- win", "port: 4222", {
        monitorPort: 8222,
        extraArgs: ["-DV", "-p", "4999", "--addr=127.0.0.3", "--http_port", "8999"],
      }, [
        {
          role: "client",
          host: "127.0.0.3",
          port: 4999,
          setting: "-p in the arguments after --",
        },
        {
          role: "monitor",
          host: "127.0.0.3",
          port: 8999,
          setting: "-http_port in the arguments after --",
        },
      ]],
    ];
  for (const [name, config, options, expected] of cases) {
    await t.step(name, () => {
      assert.deepEqual(addresses(config, options), expected);
    });
  }
});

Deno.test("a wildcard listen host is reached on the loopback address", () => {
  assert.equal(connectHost("0.0.0.0"), "127.0.0.1");
  assert.equal(connectHost(""), "127.0.0.1");
  assert.equal(connectHost("::"), "::1");
  assert.equal(connectHost("[::]"), "::1");
  assert.equal(connectHost("10.1.2.3"), "10.1.2.3");
  assert.equal(connectHost("[fe80::1]"), "fe80::1");
});
