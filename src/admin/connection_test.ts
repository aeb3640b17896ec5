/**
 * AdminConnection and the transport error guard against a real nats-server: background connect,
 * reconnect after a restart, wrong creds logged once and recovered from, TLS, and a child process
 * that must survive the Node transport's uncaught ECONNRESET.
 */

import assert from "node:assert/strict";
import { ServerView } from "../config/server_view.ts";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { AdminConnection } from "./connection.ts";
import { installTransportErrorGuard, isTransportSocketError } from "./transport_guard.ts";
import { verifyAdminConnection } from "./identity.ts";
import { silentLogger } from "../shared/log.ts";
import { makeUser } from "../../dev/jwt_fixtures.ts";
import { makeCertificates, opensslAvailable } from "../../dev/certificates.ts";
import { captureLog } from "../../tests/_helpers/log_capture.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { pollUntil } from "../../dev/poll.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

async function serverName(nc: NatsConnection): Promise<string> {
  const reply = await nc.request("$SYS.REQ.SERVER.PING", "", { timeout: 2000 });
  return reply.json<{ server: { name: string } }>().server.name;
}

/** Creds of a system account user with the seed of another user: "Authorization Violation". */
async function wrongCreds(setup: { system: Parameters<typeof makeUser>[0] }): Promise<string> {
  const user = await makeUser(setup.system, { name: "right" });
  const other = await makeUser(setup.system, { name: "other" });
  return user.creds.replace(user.seed, other.seed);
}

Deno.test("the admin connection waits for the server, and reconnects after a restart", async () => {
  await using setup = await tempSetup();
  const credsPath = join(setup.credsDir, "sys.creds");
  const { log, entries } = captureLog();
  await using admin = AdminConnection.start({ url: setup.clientUrl, credsPath, log });
  assert.equal(admin.connection, undefined);
  await pollUntil("a refused attempt", () => entries.some((e) => /not accepting/.test(e.msg)));

  let server = await startNatsServer(setup);
  try {
    const nc = await admin.ready(AbortSignal.timeout(10_000));
    assert.equal(await serverName(nc), "pot_nats_dev");
    assert.equal(admin.connection, nc);

    await server.stop();
    await pollUntil("the connection to notice", () => admin.connection === undefined);
    server = await startNatsServer(setup);
    const again = await admin.ready(AbortSignal.timeout(10_000));
    assert.equal(await serverName(again), "pot_nats_dev");
    assert.ok(entries.some((e) => /re-established/.test(e.msg)));
    // A refused connection while the server is down is expected: never above debug level.
    assert.ok(
      entries.filter((e) => /not accepting/.test(e.msg)).every((e) => e.level === "debug"),
    );
  } finally {
    await admin.close();
    await server.stop();
  }
});

Deno.test("the admin connection against a running server", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  // Refused connections in this process: the Node transport may then raise an uncaught
  // ECONNRESET (even after the attempt is over), which would fail the whole file.
  const removeGuard = installTransportErrorGuard(silentLogger);
  using _guard = { [Symbol.dispose]: removeGuard };

  await t.step("wrong creds are logged once, and a fixed creds file recovers", async () => {
    const { log, entries } = captureLog();
    const credsPath = join(setup.dir, "admin-wrong.creds");
    await Deno.writeTextFile(credsPath, await wrongCreds(setup));
    await using admin = AdminConnection.start({
      url: server.url,
      credsPath,
      log,
      maxDelayMs: 100,
      refusedRetryMs: 100,
    });
    await pollUntil(
      "several refused attempts",
      () => entries.filter((e) => /^again: the server refused/.test(e.msg)).length >= 3,
    );
    const refusals = entries.filter((e) => e.level !== "debug" && /refused/.test(e.msg));
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]?.level, "error");
    assert.match(
      refusals[0]?.msg ?? "",
      /the server refused the admin creds: Authorization Violation/,
    );
    assert.equal(refusals[0]?.creds, credsPath);
    assert.equal(admin.connection, undefined);

    await Deno.writeTextFile(credsPath, setup.sysUser.creds);
    const nc = await admin.ready(AbortSignal.timeout(10_000));
    assert.equal(await serverName(nc), "pot_nats_dev");
  });

  await t.step("a missing creds file is waited for", async () => {
    const { log, entries } = captureLog();
    const credsPath = join(setup.dir, "admin-late.creds");
    await using admin = AdminConnection.start({ url: server.url, credsPath, log, maxDelayMs: 100 });
    await pollUntil(
      "the failed read to be logged",
      () =>
        entries.some((e) =>
          e.level === "error" && /cannot read the admin creds file: .*No such file/.test(e.msg) &&
          e.creds === credsPath
        ),
    );
    await Deno.writeTextFile(credsPath, setup.sysUser.creds);
    await admin.ready(AbortSignal.timeout(10_000));
  });

  const verify = (nc: NatsConnection, signal: AbortSignal) =>
    verifyAdminConnection(nc, {
      config: () => ServerView.read(setup.confPath),
      monitorPort: setup.options.monitorPort,
      signal,
    });
  const userInfo = async (nc: NatsConnection) =>
    (await nc.request("$SYS.REQ.USER.INFO", "", { timeout: 2000 })).json<
      { data: { user: string; account: string } }
    >().data;

  await t.step("another account's user is never handed out; changed creds are", async () => {
    const { log, entries } = captureLog();
    const credsPath = join(setup.dir, "admin-demo.creds");
    await Deno.writeTextFile(credsPath, setup.demoUser.creds);
    await using admin = AdminConnection.start({
      url: server.url,
      credsPath,
      log,
      verify,
      credsPollMs: 20,
      rotationPollMs: 20,
    });
    let handedOut = false;
    const ready = admin.ready().then((nc) => {
      handedOut = true;
      return nc;
    });
    await pollUntil(
      "the refusal",
      () =>
        entries.find((e) =>
          e.level === "error" && /not a system account user's/.test(e.msg) &&
          e.msg.includes(setup.demo.pub) && e.creds === credsPath
        ),
    );
    assert.equal(admin.connection, undefined);
    assert.equal(handedOut, false);
    await Deno.writeTextFile(credsPath, setup.sysUser.creds);
    const nc = await ready;
    assert.equal((await userInfo(nc)).account, setup.system.pub);
    assert.equal(entries.filter((e) => e.level === "error").length, 1);
  });

  await t.step("a rotated creds file replaces a working connection", async () => {
    const { log, entries } = captureLog();
    const credsPath = join(setup.dir, "admin-rotated.creds");
    await Deno.writeTextFile(credsPath, setup.sysUser.creds);
    await using admin = AdminConnection.start({
      url: server.url,
      credsPath,
      log,
      verify,
      credsPollMs: 20,
      rotationPollMs: 20,
    });
    const first = await admin.ready(AbortSignal.timeout(10_000));
    assert.equal((await userInfo(first)).user, setup.sysUser.pub);
    const next = await makeUser(setup.system, { name: "rotated" });
    await Deno.writeTextFile(credsPath, next.creds);
    await first.closed();
    const second = await admin.ready(AbortSignal.timeout(10_000));
    assert.equal((await userInfo(second)).user, next.pub);
    assert.ok(entries.some((e) => /creds file changed; reconnecting/.test(e.msg)));
  });

  await t.step("close() does not wait for a connect attempt that hangs", async () => {
    using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) accepted.push(conn);
    })().catch(() => {/* the listener closed */});
    const admin = AdminConnection.start({
      url: `nats://127.0.0.1:${silent.addr.port}`,
      credsPath: join(setup.credsDir, "sys.creds"),
      log: silentLogger,
      connectTimeoutMs: 1500,
    });
    try {
      await pollUntil("the attempt to be under way", () => accepted.length > 0);
      const started = performance.now();
      await admin.close();
      assert.ok(performance.now() - started < 500, "close() waited for the connect timeout");
    } finally {
      silent.close();
      // Closing the socket ends the abandoned attempt too (no timer outlives the test).
      for (const conn of accepted) conn.close();
      await accepting;
    }
  });

  await t.step("ready() rejects when aborted, and after close", async () => {
    const admin = AdminConnection.start({
      url: server.url,
      credsPath: join(setup.dir, "never.creds"),
      log: silentLogger,
    });
    const controller = new AbortController();
    const waiting = admin.ready(controller.signal);
    controller.abort(new Error("gave up"));
    await assert.rejects(waiting, /gave up/);
    const pending = assert.rejects(admin.ready(), /closed/);
    await admin.close();
    await pending;
    await assert.rejects(admin.ready(), /closed/);
    await admin.close();
  });

  await t.step("TLS files for a server without TLS fall back to plain TCP", async () => {
    const { log, entries } = captureLog();
    await using admin = AdminConnection.start({
      url: server.url,
      credsPath: join(setup.credsDir, "sys.creds"),
      tls: { ca: join(setup.dir, "no-such-ca.crt") },
      log,
    });
    await admin.ready(AbortSignal.timeout(10_000));
    assert.ok(entries.some((e) => e.level === "info" && /offers no TLS/.test(e.msg)));
  });

  const child = async (guard: boolean, credsPath: string) => {
    const script = join(setup.dir, "admin_child.ts");
    await Deno.writeTextFile(
      script,
      `
import { AdminConnection } from ${JSON.stringify(new URL("./connection.ts", import.meta.url).href)};
import { installTransportErrorGuard } from ${
        JSON.stringify(new URL("./transport_guard.ts", import.meta.url).href)
      };
import { createLogger } from ${JSON.stringify(new URL("../shared/log.ts", import.meta.url).href)};
const [url, credsPath, guard] = Deno.args;
const log = createLogger({ level: "debug", format: "text" });
if (guard === "guard") installTransportErrorGuard(log);
const admin = AdminConnection.start({ url, credsPath, log, maxDelayMs: 100, refusedRetryMs: 100 });
const nc = await admin.ready();
const reply = await nc.request("$SYS.REQ.SERVER.PING", "", { timeout: 2000 });
console.log("CONNECTED to " + reply.json().server.name);
await admin.close();
`,
    );
    const process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        script,
        server.url,
        credsPath,
        guard ? "guard" : "none",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        lines.push(...chunk.split("\n").filter((line) => line !== ""));
      }
    };
    const output = Promise.all([read(process.stdout), read(process.stderr)]);
    const status = Promise.all([process.status, output]).then(([status]) => status);
    return {
      lines,
      status,
      async [Symbol.asyncDispose]() {
        try {
          process.kill("SIGKILL");
        } catch {
          // Already exited.
        }
        await status;
      },
    };
  };

  await t.step("with the guard, a process survives the transport's ECONNRESET", async () => {
    const credsPath = join(setup.dir, "child-guarded.creds");
    await Deno.writeTextFile(credsPath, await wrongCreds(setup));
    await using run = await child(true, credsPath);
    const transcript = () => run.lines.join("\n");
    await pollUntil(
      "an ECONNRESET that would have ended an unguarded process",
      () => run.lines.some((l) => /ignored a socket error.*ECONNRESET/.test(l)),
      { timeoutMs: 30_000 },
    );
    assert.equal(run.lines.filter((l) => / ERR .*refused the admin creds/.test(l)).length, 1);
    await Deno.writeTextFile(credsPath, setup.sysUser.creds);
    const status = await run.status;
    assert.equal(status.code, 0, transcript());
    assert.ok(run.lines.includes("CONNECTED to pot_nats_dev"), transcript());
  });

  await t.step("without the guard, the ECONNRESET ends the process", async () => {
    const credsPath = join(setup.dir, "child-unguarded.creds");
    await Deno.writeTextFile(credsPath, await wrongCreds(setup));
    await using run = await child(false, credsPath);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      run.status,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 30_000)),
    ]);
    clearTimeout(timer);
    assert.ok(status, "the unguarded process kept running for 30 s");
    assert.notEqual(status.code, 0);
    assert.match(run.lines.join("\n"), /Uncaught.*ECONNRESET/);
  });
});

Deno.test("the admin connection over TLS", async (t) => {
  const openssl = await opensslAvailable();
  await t.step({
    name: "a server requiring TLS is reached with the CA file (nats:// and tls://)",
    ignore: !openssl,
    fn: async () => {
      const certs = await Deno.makeTempDir({ prefix: "pot-nats-tls-" });
      try {
        await makeCertificates(certs);
        await using setup = await tempSetup({
          extraConfig: `tls { cert_file: "${join(certs, "tls.crt")}", key_file: "${
            join(certs, "tls.key")
          }" }`,
        });
        await using _server = await startNatsServer(setup);
        const credsPath = join(setup.credsDir, "sys.creds");
        for (const url of [setup.clientUrl, setup.clientUrl.replace("nats://", "tls://")]) {
          await using admin = AdminConnection.start({
            url,
            credsPath,
            tls: { ca: join(certs, "ca.crt") },
            log: silentLogger,
          });
          const nc = await admin.ready(AbortSignal.timeout(10_000));
          assert.equal(nc.info?.tls_required, true);
          assert.equal(await serverName(nc), "pot_nats_dev");
        }
        const { log, entries } = captureLog();
        await using untrusted = AdminConnection.start({ url: setup.clientUrl, credsPath, log });
        await pollUntil(
          "the certificate error to be logged",
          () => entries.some((e) => e.level === "warn" && /certificate/i.test(String(e.error))),
        );
        assert.equal(untrusted.connection, undefined);

        // The certificate names 127.0.0.1 only: reaching the same server as "localhost" fails.
        const wrongName = captureLog();
        await using misnamed = AdminConnection.start({
          url: setup.clientUrl.replace("127.0.0.1", "localhost"),
          credsPath,
          tls: { ca: join(certs, "ca.crt") },
          log: wrongName.log,
        });
        await pollUntil(
          "the host name mismatch to be logged",
          () =>
            wrongName.entries.some((e) => e.level === "warn" && /altnames/.test(String(e.error))),
        );
        assert.equal(misnamed.connection, undefined);
      } finally {
        await Deno.remove(certs, { recursive: true });
      }
    },
  });
});

Deno.test("only socket errors count as transport socket errors", () => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const pipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
  assert.equal(isTransportSocketError(reset), true);
  assert.equal(isTransportSocketError(pipe), true);
  assert.equal(isTransportSocketError(new Error("read ECONNRESET")), true);
  const afterEnd = Object.assign(new Error("write after end"), {
    code: "ERR_STREAM_WRITE_AFTER_END",
  });
  assert.equal(isTransportSocketError(afterEnd), true);
  assert.equal(isTransportSocketError(new Error("write after end")), true);
  assert.equal(isTransportSocketError(new Error("a write after end of the world")), false);
  assert.equal(isTransportSocketError(new TypeError("x is undefined")), false);
  assert.equal(isTransportSocketError(new Error("ECONNRESET somewhere in a message")), false);
  assert.equal(isTransportSocketError("read ECONNRESET"), false);
});
