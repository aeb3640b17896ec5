/**
 * End-to-end: the supervisor core (start, signals, exit codes, settings errors, late config,
 * extra arguments) against a real nats-server, with main.ts run as a child process.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor, supervisorArgv, supervisorEnv } from "../dev/supervisor_run.ts";
import { trySignal } from "../dev/process_output.ts";

const READY = /Server is ready/;

Deno.test("the server starts and a demo account user can publish and receive", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(READY);
  const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  try {
    const sub = nc.subscribe("hello", { max: 1 });
    nc.publish("hello", "world");
    for await (const msg of sub) assert.equal(msg.string(), "world");
  } finally {
    await nc.close();
  }
});

Deno.test("SIGTERM stops nats-server gracefully and the supervisor exits 0", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(READY);
  run.signal("SIGTERM");
  const status = await run.status;
  assert.equal(status.code, 0, run.transcript());
  assert.ok(run.count(/Server Exiting/) === 1, "nats-server shut down by itself");
});

Deno.test("SIGTERM still stops the supervisor after the reader of its output went away", async () => {
  // A log line written to a closed pipe (EPIPE) once threw inside the SIGTERM handler: the
  // supervisor ran on and ignored every further SIGTERM.
  await using setup = await tempSetup();
  const [deno, ...args] = supervisorArgv();
  const child = new Deno.Command(deno!, {
    args,
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    env: supervisorEnv(setup.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let serverPid: number | undefined;
  try {
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    while (!READY.test(output)) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`the supervisor ended before the server was ready:\n${output}`);
      output += value;
    }
    serverPid = Number(output.match(/nats-server started pid=(\d+)/)?.[1]) || undefined;
    await reader.cancel();
    await child.stdout.cancel();
    child.kill("SIGTERM");
    const status = await pollUntil(
      "the supervisor to exit",
      () => Promise.race([child.status, Promise.resolve(undefined)]),
      { timeoutMs: 10_000 },
    );
    // nats-server dies of SIGPIPE logging its shutdown to the same closed pipe; the supervisor
    // passes that on, as it passes on any exit of its child.
    assert.ok(status.code === 0 || status.code === 128 + 13, `exit ${status.code}`);
  } finally {
    trySignal(() => child.kill("SIGKILL")); // it exited, as it should, unless the test failed
    if (serverPid !== undefined) trySignal(() => Deno.kill(serverPid!, "SIGKILL"));
    await child.status;
  }
});

Deno.test("SIGHUP reaches nats-server, which reloads, and the supervisor keeps running", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(READY);
  const before = await monitor(setup.options.monitorPort, "varz");
  run.signal("SIGHUP");
  await run.waitForLine(/Reloaded server configuration/);
  await pollUntil("config_load_time to change", async () => {
    const after = await monitor(setup.options.monitorPort, "varz");
    return after.config_load_time !== before.config_load_time;
  });
  const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
  await nc.close();
});

Deno.test("a nats-server killed with SIGKILL makes the supervisor exit 137", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(READY);
  const pid = run.serverPid();
  assert.ok(pid, run.transcript());
  Deno.kill(pid, "SIGKILL");
  const status = await run.status;
  assert.equal(status.code, 137, run.transcript());
  assert.ok(run.count(/exited unexpectedly/) === 1, run.transcript());
});

Deno.test("bad settings stop the supervisor with exit 2 before anything starts", async (t) => {
  for (
    const [name, value, message] of [
      [
        "NATS_MONITOR_PORT",
        "80a",
        /NATS_MONITOR_PORT must be an integer from 0 to 65535, got "80a"/,
      ],
      ["NATS_SERVER_MODE", "lief", /NATS_SERVER_MODE must be one of server, leaf, got "lief"/],
    ] as const
  ) {
    await t.step(`${name}=${value}`, async () => {
      await using run = runSupervisor({ env: { [name]: value, NATS_SERVER_BIN: "/nonexistent" } });
      const status = await run.status;
      assert.equal(status.code, 2);
      assert.match(run.transcript(), message);
      assert.doesNotMatch(run.transcript(), /nats-server started/);
    });
  }

  await t.step(
    "with POT_NATS_LOG_FORMAT=json, each error is a JSON line from pot-nats",
    async () => {
      await using run = runSupervisor({
        env: {
          POT_NATS_LOG_FORMAT: "json",
          NATS_MONITOR_PORT: "80a",
          NATS_SERVER_MODE: "lief",
          NATS_SERVER_BIN: "/nonexistent",
        },
      });
      assert.equal((await run.status).code, 2);
      const entries = run.lines.filter((line) => line !== "").map((line) => JSON.parse(line));
      assert.deepEqual(entries.map((entry) => [entry.level, entry.source]), [
        ["error", "pot-nats"],
        ["error", "pot-nats"],
      ]);
      assert.match(entries.map((entry) => entry.msg).join("\n"), /NATS_MONITOR_PORT must be/);
    },
  );

  await t.step("POT_NATS_OPERATOR_SIGNING_KEY holding an account seed", async () => {
    await using setup = await tempSetup();
    const keyFile = join(setup.dir, "signing.nk");
    await Deno.writeTextFile(keyFile, setup.demo.seed);
    await using run = runSupervisor({
      env: { ...setup.env, POT_NATS_OPERATOR_SIGNING_KEY: keyFile },
    });
    await pollUntil("the supervisor to exit", () => run.exited, { timeoutMs: 10_000 });
    assert.equal((await run.status).code, 2, run.transcript());
    assert.match(
      run.transcript(),
      /POT_NATS_OPERATOR_SIGNING_KEY ".*signing\.nk" holds the seed of an account \(SA\.\.\.\)/,
    );
    assert.doesNotMatch(run.transcript(), new RegExp(setup.demo.seed));
    assert.doesNotMatch(run.transcript(), /nats-server started/);
  });
});

Deno.test("a NATS_CONF that appears after start is waited for, then used", async () => {
  await using setup = await tempSetup();
  const late = join(setup.dir, "late", "server.conf");
  await using run = runSupervisor({ env: { ...setup.env, NATS_CONF: late } });
  await run.waitForLine(/waiting up to 30 s for NATS_CONF/);
  assert.equal(run.count(/nats-server started/), 0);
  await Deno.mkdir(join(setup.dir, "late"));
  const text = await Deno.readTextFile(setup.confPath);
  await Deno.writeTextFile(late, text.replace(`"./accounts.conf"`, `"../config/accounts.conf"`));
  await run.waitForLine(READY);
});

Deno.test("a NATS_CONF that never appears ends the wait with a clear error", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: {
      ...setup.env,
      NATS_CONF: join(setup.dir, "missing.conf"),
      POT_NATS_CONF_WAIT_SECONDS: "0",
    },
  });
  const status = await run.status;
  assert.equal(status.code, 1);
  assert.match(run.transcript(), /NATS_CONF .*missing\.conf did not appear within 0 s/);
});

Deno.test("arguments after -- reach nats-server", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env, args: ["--", "--server_name", "from_args"] });
  await run.waitForLine(READY);
  const varz = await monitor(setup.options.monitorPort, "varz");
  assert.equal(varz.server_name, "from_args");
});

Deno.test("--version, --check and --help answer and exit", async (t) => {
  await using setup = await tempSetup();
  await t.step("--version prints both versions", async () => {
    await using run = runSupervisor({ env: setup.env, args: ["--version"] });
    assert.equal((await run.status).code, 0);
    assert.match(run.transcript(), /pot-nats \d+\.\d+\.\d+/);
    assert.match(run.transcript(), /nats-server 2\.\d+\.\d+/);
  });
  await t.step("--check accepts a valid config", async () => {
    await using run = runSupervisor({ env: setup.env, args: ["--check"] });
    assert.equal((await run.status).code, 0, run.transcript());
  });
  await t.step("--check rejects a broken config with nats-server's message", async () => {
    const broken = join(setup.dir, "broken.conf");
    await Deno.writeTextFile(broken, "port: {{{\n");
    await using run = runSupervisor({
      env: { ...setup.env, NATS_CONF: broken },
      args: ["--check"],
    });
    assert.notEqual((await run.status).code, 0);
    assert.match(run.transcript(), /broken\.conf/);
  });
  await t.step("--help lists every setting with its default", async () => {
    await using run = runSupervisor({ env: {}, args: ["--help"] });
    assert.equal((await run.status).code, 0);
    assert.match(run.transcript(), /NATS_MONITOR_PORT .*default: 8222/);
    assert.match(run.transcript(), /POT_NATS_STOP_TIMEOUT_SECONDS .*default: 30/);
  });
});

Deno.test("the config's $VAR placeholders see the supervisor's environment", async () => {
  await using setup = await tempSetup();
  const text = await Deno.readTextFile(setup.confPath);
  await Deno.writeTextFile(
    setup.confPath,
    text.replace(/^server_name: .*$/m, "server_name: $POT_TEST_SERVER_NAME"),
  );
  await using run = runSupervisor({ env: { ...setup.env, POT_TEST_SERVER_NAME: "from_env" } });
  await run.waitForLine(READY);
  const varz = await monitor(setup.options.monitorPort, "varz");
  assert.equal(varz.server_name, "from_env");
});

Deno.test("a second signal during a stop does not lose the stop", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(READY);
  run.signal("SIGTERM");
  run.signal("SIGHUP");
  run.signal("SIGTERM");
  const status = await run.status;
  assert.equal(status.code, 0, run.transcript());
  assert.equal(run.count(/Server Exiting/), 1);
});

Deno.test("lame duck on: SIGTERM enters lame-duck mode", async (t) => {
  await using setup = await tempSetup();
  const env = { ...setup.env, POT_NATS_LAME_DUCK: "true", POT_NATS_STOP_TIMEOUT_SECONDS: "1" };

  await t.step("with no clients, nats-server leaves at once and the exit is 0", async () => {
    await using run = runSupervisor({ env });
    // The supervisor's own admin connection is up: it must let go before lame-duck mode starts,
    // or nats-server waits out its grace period for it and the stop deadline kills it.
    await run.waitForLine(/pushed account JWTs/);
    run.signal("SIGTERM");
    await run.waitForLine(/stopping nats-server with SIGUSR2/);
    await run.waitForLine(/[Ll]ame [Dd]uck [Mm]ode/);
    assert.equal((await run.status).code, 0, run.transcript());
  });

  await t.step("with a client, the stop deadline still kills nats-server (137)", async () => {
    await using run = runSupervisor({ env });
    await run.waitForLine(READY);
    // A connected client keeps lame-duck mode busy (its grace period is 10 s) past the deadline.
    const client = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
    try {
      run.signal("SIGTERM");
      await run.waitForLine(/[Ll]ame [Dd]uck [Mm]ode/);
      const status = await run.status;
      assert.equal(status.code, 137, run.transcript());
      assert.equal(run.count(/did not stop within 1000 ms; killing it/), 1);
    } finally {
      // The server was killed under this client: closing may fail, and there is nothing to keep.
      await client.close().catch(() => {});
    }
  });
});

Deno.test("Ctrl-C in a terminal (SIGINT to the whole process group) is a clean stop", async (t) => {
  // nats-server gets the SIGINT too, and may exit before the supervisor has handled its own copy:
  // that is still a stop, never "exited unexpectedly". Several tries, since it is a race.
  await using setup = await tempSetup();
  for (let attempt = 1; attempt <= 3; attempt++) {
    await t.step(`try ${attempt}`, async () => {
      await using run = runSupervisor({ env: setup.env, processGroup: true });
      await run.waitForLine(/pushed account JWTs to the server/);
      run.signalGroup("SIGINT");
      const status = await run.status;
      assert.equal(status.code, 0, run.transcript());
      assert.equal(run.count(/exited unexpectedly/), 0, run.transcript());
      assert.equal(run.count(/ ERR /), 0, run.transcript());
      await run.waitForLine(/INF nats-server stopped/);
    });
  }
});
