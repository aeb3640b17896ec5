import assert from "node:assert/strict";
import {
  bannerText,
  type CommandForm,
  denoRunner,
  portTakenMessage,
  shellWord,
  taskCommand,
} from "./demo_text.ts";
import { DEFAULT_DEMO_DIR, demoLocation } from "./demo_setup.ts";

const DENO = { form: { runner: "deno", env: {} } satisfies CommandForm };

Deno.test("demo commands: deno when the user's PATH has it, else npx", async (t) => {
  const runner = (path: string | undefined, denoIn: string[]) =>
    denoRunner({
      path,
      denoVersion: "2.9.6",
      isExecutable: (file) => denoIn.some((dir) => file === `${dir}/deno`),
    });

  await t.step("deno installed on PATH", () => {
    assert.equal(runner("/usr/bin:/home/u/.deno/bin", ["/home/u/.deno/bin"]), "deno");
  });
  await t.step("under npx: only npm's own folders hold a deno", () => {
    const npx = "/home/u/.npm/_npx/7a40be787520bede/node_modules/.bin";
    const path = `${npx}:/repo/node_modules/.bin:/usr/lib/node_modules/npm/node_modules/` +
      `@npmcli/run-script/lib/node-gyp-bin:/usr/bin:/bin`;
    assert.equal(runner(path, [npx, "/repo/node_modules/.bin"]), "npx -y deno@2.9.6");
  });
  await t.step("CI's deno from npm in the project's cache is not the user's", () => {
    const cached = "/repo/.cache/deno/node_modules/.bin";
    assert.equal(runner(`${cached}:/usr/bin`, [cached]), "npx -y deno@2.9.6");
  });
  await t.step("no PATH at all, or deno nowhere", () => {
    assert.equal(runner(undefined, []), "npx -y deno@2.9.6");
    assert.equal(runner("/usr/bin:/bin", []), "npx -y deno@2.9.6");
  });
});

Deno.test("demo commands: written as a POSIX shell reads them", () => {
  assert.equal(taskCommand(DENO.form, "demo:client", ["orders"]), "deno task demo:client orders");
  assert.equal(
    taskCommand(
      { runner: "npx -y deno@2.9.6", env: { POT_NATS_DEMO_DIR: "/tmp/my demo" } },
      "demo:account",
      ["add", "it's"],
    ),
    `POT_NATS_DEMO_DIR='/tmp/my demo' npx -y deno@2.9.6 task demo:account add 'it'\\''s'`,
  );
  assert.equal(shellWord(".demo"), ".demo");
  assert.equal(shellWord("$(rm -rf /)"), "'$(rm -rf /)'");
});

Deno.test("demo banner: the life cycle in the form that runs here, comments aligned", () => {
  for (const runner of ["deno", "npx -y deno@2.9.6"]) {
    const text = bannerText({
      form: { runner, env: {} },
      dir: ".demo",
      clientUrl: "nats://127.0.0.1:14222",
      monitorPort: 18222,
      httpPort: 18223,
      serverVersion: "2.15.1",
      graceSeconds: 10,
      account: "orders",
    });
    const steps = text.split("\n").filter((line) => line.includes(" task demo:"));
    assert.deepEqual(steps.map((line) => line.replace(/\s+#.*$/, "").trim()), [
      `${runner} task demo:account add orders`,
      `${runner} task demo:client orders`,
      `${runner} task demo:account limit orders 1`,
      `${runner} task demo:client orders`,
      `${runner} task demo:account remove orders`,
      `${runner} task demo:client orders`,
      `${runner} task demo:account list`,
    ]);
    assert.equal(new Set(steps.map((line) => line.indexOf("  # "))).size, 1, text);
    assert.match(text, /monitor: +http:\/\/127\.0\.0\.1:18222\//);
    assert.match(text, /purged after 10 s/);
    assert.match(text, /rm -rf \.demo$/);
    assert.doesNotMatch(text, /deno run/);
  }
});

Deno.test("demo ports: a running demo is named as such, anything else as what it is", () => {
  const demo = `nats-server 2.15.1 "pot_nats_demo" (id NABC)`;
  const options = { demoServerName: "pot_nats_demo", form: DENO.form };
  assert.match(
    portTakenMessage({ port: 14222, role: "client", what: demo, ...options }),
    /^a demo already runs on 14222 \(nats-server 2\.15\.1 "pot_nats_demo" \(id NABC\)\): stop it first .*POT_NATS_DEMO_DIR=\.demo2 POT_NATS_DEMO_PORT=14223 POT_NATS_DEMO_MONITOR_PORT=18224 POT_NATS_DEMO_HTTP_PORT=18225 deno task demo$/,
  );
  assert.match(
    portTakenMessage({
      port: 14222,
      role: "client",
      what: `nats-server 2.10.27 "prod"`,
      ...options,
    }),
    /^port 14222, the demo's client port, is taken by nats-server 2\.10\.27 "prod": stop that/,
  );
  assert.match(
    portTakenMessage({ port: 18222, role: "monitor", what: "something", ...options }),
    /^port 18222, the demo's monitor port, is taken by something/,
  );
});

Deno.test("demo location: .demo on 14222/18222 unless the environment says otherwise", () => {
  assert.deepEqual(demoLocation({}), {
    dir: DEFAULT_DEMO_DIR,
    clientPort: 14222,
    monitorPort: 18222,
    httpPort: 18223,
  });
  assert.deepEqual(
    demoLocation({
      POT_NATS_DEMO_DIR: "/tmp/d",
      POT_NATS_DEMO_PORT: "24222",
      POT_NATS_DEMO_MONITOR_PORT: "",
    }),
    { dir: "/tmp/d", clientPort: 24222, monitorPort: 18222, httpPort: 18223 },
  );
  assert.throws(
    () => demoLocation({ POT_NATS_DEMO_PORT: "80a" }),
    /POT_NATS_DEMO_PORT must be a port from 1 to 65535, got "80a"/,
  );
});
