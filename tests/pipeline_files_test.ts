/**
 * End-to-end: the change pipeline on plain files and directories (bind mounts edited in place, an
 * edge agent's files), through main.ts and a real nats-server. The first test runs with the periodic
 * re-scan off, so every effect it sees was caused by a file event; the second turns the re-scan on
 * to catch a change no watcher can see.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { kubeletWrite } from "../dev/kubelet.ts";
import { monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";
import { accountsConfigText, serverConfigText } from "../dev/dev_setup.ts";

const RELOADED = /Reloaded server configuration/;

interface Varz {
  max_connections: number;
  max_payload: number;
}

Deno.test("plain files: in-place writes, a late TLS dir, a recreated dir and includes", async (t) => {
  await using setup = await tempSetup();
  // The TLS dir is created only later, by a step below.
  await Deno.remove(setup.sslDir, { recursive: true });
  const serverConf = (maxConnections: number) =>
    `${serverConfigText(setup)}max_connections: ${maxConnections}\n`;
  await Deno.writeTextFile(setup.confPath, serverConf(1000));

  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_LOG_LEVEL: "debug", POT_NATS_RESCAN_SECONDS: "0" },
  });
  await run.waitForLine(/watching for changes/);
  await run.waitForLine(/change pass: no content changed/);
  await run.waitForLine(/Server is ready/);
  const varz = () => monitor<Varz>(setup.options.monitorPort, "varz");
  assert.equal((await varz()).max_connections, 1000);

  /** Waits for exactly one more reload, confirmed by the supervisor for `cause`. */
  const expectOneReload = async (cause: string, from: number, reloadsBefore: number) => {
    const confirmed = await run.waitForLine(/nats-server reloaded its configuration/, {
      from,
      timeoutMs: 5000,
    });
    assert.match(confirmed, new RegExp(`causes=\\S*\\b${cause}\\b`), run.transcript());
    await pollUntil(`reload after the ${cause} change`, () => run.count(RELOADED) > reloadsBefore);
    assert.equal(run.count(RELOADED), reloadsBefore + 1, run.transcript());
  };

  await t.step("an in-place write of NATS_CONF is applied", async () => {
    const from = run.lines.length;
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(setup.confPath, serverConf(1001));
    await pollUntil("max_connections 1001", async () => (await varz()).max_connections === 1001);
    await expectOneReload("config", from, reloads);
  });

  await t.step("an in-place write of the included NATS_ACCOUNTS file is applied", async () => {
    const from = run.lines.length;
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(
      setup.accountsPath,
      `${accountsConfigText(setup)}# set here, in the accounts file\nmax_payload: 654321\n`,
    );
    await pollUntil("max_payload 654321", async () => (await varz()).max_payload === 654321);
    await expectOneReload("accounts", from, reloads);
  });

  await t.step("a TLS dir that did not exist at start is picked up when it appears", async () => {
    const from = run.lines.length;
    const reloads = run.count(RELOADED);
    await Deno.mkdir(setup.sslDir);
    await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert 1");
    await expectOneReload("tls", from, reloads);
  });

  await t.step("a deleted TLS dir is a change, and its re-creation is watched again", async () => {
    let from = run.lines.length;
    let reloads = run.count(RELOADED);
    await Deno.remove(setup.sslDir, { recursive: true });
    await expectOneReload("tls", from, reloads);

    from = run.lines.length;
    reloads = run.count(RELOADED);
    await Deno.mkdir(setup.sslDir);
    await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert 2");
    await expectOneReload("tls", from, reloads);

    // Only a watcher on the new directory's inode can see this write (the re-scan is off).
    from = run.lines.length;
    reloads = run.count(RELOADED);
    await Deno.writeTextFile(join(setup.sslDir, "tls.key"), "key 2");
    await expectOneReload("tls", from, reloads);
  });

  await t.step("a TLS dir replaced between two passes is watched on its new inode", async () => {
    let from = run.lines.length;
    let reloads = run.count(RELOADED);
    // Gone and back within one debounce window: no pass sees the dir missing. File systems such
    // as ext4 hand the freed inode number to the next new directory, so the new dir usually has
    // the old one's device and inode numbers; lower free numbers are taken aside to make sure.
    const oldInode = (await Deno.stat(setup.sslDir)).ino;
    await Deno.remove(setup.sslDir, { recursive: true });
    for (let i = 0;; i++) {
      await Deno.mkdir(setup.sslDir);
      if ((await Deno.stat(setup.sslDir)).ino === oldInode || i === 100) break;
      await Deno.rename(setup.sslDir, join(setup.dir, `held-inode-${i}`));
    }
    await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert 3");
    await expectOneReload("tls", from, reloads);

    from = run.lines.length;
    reloads = run.count(RELOADED);
    await Deno.writeTextFile(join(setup.sslDir, "tls.key"), "key 3");
    await expectOneReload("tls", from, reloads);
  });

  await t.step("a change in NATS_CREDS_DIR reloads in server mode", async () => {
    const from = run.lines.length;
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(join(setup.credsDir, "leaf.creds"), setup.demoUser.creds, {
      mode: 0o600,
    });
    await expectOneReload("creds", from, reloads);
    assert.equal(run.count(/nats-server started/), 1, "a reload, not a restart");
  });

  await t.step("a file NATS_CONF includes from another dir is watched too", async () => {
    const extraDir = join(setup.dir, "extra");
    const extraConf = join(extraDir, "extra.conf");
    await Deno.mkdir(extraDir);
    await Deno.writeTextFile(extraConf, "max_connections: 3001\n");
    // max_connections moves to the included file.
    await Deno.writeTextFile(
      setup.confPath,
      `${serverConfigText(setup)}include "../extra/extra.conf"\n`,
    );
    await pollUntil("max_connections 3001", async () => (await varz()).max_connections === 3001);

    const from = run.lines.length;
    const reloads = run.count(RELOADED);
    await Deno.writeTextFile(extraConf, "max_connections: 3002\n");
    await pollUntil("max_connections 3002", async () => (await varz()).max_connections === 3002);
    await expectOneReload("config", from, reloads);
  });

  await t.step("no change was applied twice", async () => {
    // A last change is the marker that every earlier event has been handled.
    const from = run.lines.length;
    await Deno.writeTextFile(join(setup.credsDir, "marker.creds"), setup.demoUser.creds);
    await run.waitForLine(/nats-server reloaded its configuration causes=creds$/, { from });
    // One reload per change: 11 in the steps above (the include step makes two), and the marker.
    const confirmed = run.count(/nats-server reloaded its configuration/);
    await pollUntil("nats-server's line for every reload", () => run.count(RELOADED) >= confirmed);
    assert.equal(run.count(RELOADED), 12, run.transcript());
    assert.equal(run.count(/nats-server started/), 1, run.transcript());
  });
});

Deno.test("the periodic re-scan applies a change no watcher can see", async () => {
  await using setup = await tempSetup();
  const volume = join(setup.dir, "config-vol");
  const configFiles = (maxConnections: number) => ({
    "server.conf": `${serverConfigText(setup)}max_connections: ${maxConnections}\n`,
    "accounts.conf": accountsConfigText(setup),
  });
  await kubeletWrite(volume, configFiles(1000));

  await using run = runSupervisor({
    env: {
      ...setup.env,
      NATS_CONF: join(volume, "server.conf"),
      NATS_ACCOUNTS: join(volume, "accounts.conf"),
      POT_NATS_LOG_LEVEL: "debug",
      POT_NATS_RESCAN_SECONDS: "1",
    },
  });
  await run.waitForLine(/change pass: no content changed/);
  await run.waitForLine(/Server is ready/);
  const varz = () => monitor<Varz>(setup.options.monitorPort, "varz");
  assert.equal((await varz()).max_connections, 1000);

  // The premise: the supervisor watches the volume dir, never kubelet's timestamped dirs in it.
  const watched = run.lines.flatMap((line) => line.match(/ DBG watching (\/\S+)$/)?.[1] ?? []);
  assert.ok(watched.includes(volume), `the volume dir is watched: ${watched.join(", ")}`);
  assert.ok(!watched.some((dir) => dir.startsWith(`${volume}/`)), watched.join(", "));

  // A watcher of our own shows that no event reaches the volume dir for the in-place write.
  const events: Deno.FsEvent[] = [];
  const watcher = Deno.watchFs(volume, { recursive: false });
  const collecting = (async () => {
    for await (const event of watcher) events.push(event);
  })();
  try {
    const dataDir = join(volume, await Deno.readLink(join(volume, "..data")));
    await Deno.writeTextFile(join(dataDir, "server.conf"), configFiles(1001)["server.conf"]);
    await pollUntil(
      "max_connections 1001 through the re-scan",
      async () => (await varz()).max_connections === 1001,
      { timeoutMs: 5000 },
    );
    assert.match(
      run.lines.find((line) => /change detected/.test(line)) ?? "",
      /causes=config\b/,
      run.transcript(),
    );
    const marker = join(volume, ".marker");
    await Deno.writeTextFile(marker, "");
    await pollUntil("the marker event", () => events.some((e) => e.paths.includes(marker)));
    const first = events.find((event) => event.kind !== "access");
    assert.deepEqual(first?.paths, [marker], JSON.stringify(events));
  } finally {
    watcher.close();
    await collecting;
  }
  assert.equal(run.count(RELOADED), 1, run.transcript());
});
