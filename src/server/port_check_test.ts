import assert from "node:assert/strict";
import { join } from "node:path";
import { silentLogger } from "../shared/log.ts";
import { describeGreeting, findPortInUse, probeListener } from "./port_check.ts";

/** A listener on a free loopback port that greets every connection with `greeting`. */
function greetingListener(greeting: string): Deno.TcpListener & { served: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of listener) {
      if (greeting) await conn.write(new TextEncoder().encode(greeting)).catch(() => {});
      // The probe closes first; reading until then keeps the test free of timing.
      await conn.read(new Uint8Array(16)).catch(() => null);
      conn.close();
    }
  })().catch(() => {/* listener closed */});
  return Object.assign(listener, { served });
}

Deno.test("probeListener tells nothing, something and a NATS server apart", async (t) => {
  await t.step("nothing listens: undefined", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    assert.equal(await probeListener("127.0.0.1", port), undefined);
  });
  await t.step("a silent listener is something", async () => {
    const listener = greetingListener("");
    try {
      assert.equal(await probeListener("127.0.0.1", listener.addr.port), "something");
    } finally {
      listener.close();
      await listener.served;
    }
  });
  await t.step("a NATS server is named by its INFO", async () => {
    const info = { server_id: "NABC", server_name: "n1", version: "2.10.27" };
    const listener = greetingListener(`INFO ${JSON.stringify(info)}\r\n`);
    try {
      assert.equal(
        await probeListener("127.0.0.1", listener.addr.port),
        'nats-server 2.10.27 "n1" (id NABC)',
      );
    } finally {
      listener.close();
      await listener.served;
    }
  });
});

Deno.test("a greeting that is not a NATS INFO is something", () => {
  assert.equal(describeGreeting("HTTP/1.1 400 Bad Request\r\n"), "something");
  assert.equal(describeGreeting("INFO {broken"), "something");
  assert.equal(describeGreeting("INFO {}\r\n"), "nats-server");
});

Deno.test("findPortInUse names the busy address, what sets it and what to do", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const confPath = join(dir, "server.conf");
    await Deno.writeTextFile(confPath, "host: 0.0.0.0\nport: 14222\n");
    const probed: string[] = [];
    const busy = (taken: string) => (host: string, port: number) => {
      probed.push(`${host}:${port}`);
      return Promise.resolve(`${host}:${port}` === taken ? "something" : undefined);
    };
    const options = { confPath, monitorPort: 18222, extraArgs: [], log: silentLogger };

    await t.step("all free: undefined, both ports looked at", async () => {
      assert.equal(await findPortInUse({ ...options, probe: busy("") }), undefined);
      assert.deepEqual(probed, ["127.0.0.1:14222", "127.0.0.1:18222"]);
    });
    await t.step("the client port", async () => {
      const message = await findPortInUse({ ...options, probe: busy("127.0.0.1:14222") });
      assert.equal(
        message,
        "cannot start nats-server: something already listens on 127.0.0.1:14222, the client " +
          "port (port in server.conf); another nats-server or pot-nats runs here? Stop it, or " +
          "give this server other ports",
      );
    });
    await t.step("the monitor port", async () => {
      const message = await findPortInUse({ ...options, probe: busy("127.0.0.1:18222") });
      assert.match(message ?? "", /127\.0\.0\.1:18222, the monitor port \(NATS_MONITOR_PORT\)/);
    });
    await t.step("an unreadable config is left to nats-server", async () => {
      const message = await findPortInUse({
        ...options,
        confPath: join(dir, "missing.conf"),
        probe: busy("127.0.0.1:4222"),
      });
      assert.equal(message, undefined);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
