/**
 * End-to-end: hostile files in the watched paths (issue 9) through main.ts and a real nats-server:
 * FIFOs, links to /dev/zero, a huge JWT, and Deno's file watcher thread blocked for good. The
 * periodic re-scan stays at its default (30 s) unless a test says otherwise, so whatever is applied
 * within seconds was applied through the file watcher or the 1 s directory check.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { serverConfigText } from "../dev/dev_setup.ts";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { connectWithCreds, monitor } from "../dev/nats_client.ts";
import { pollUntil } from "../dev/poll.ts";
import { cpuSeconds, rssWatchdog, watcherThreadWchan } from "./_helpers/proc.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";
import { runSupervisor, type SupervisorRun } from "../dev/supervisor_run.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;
/** Changes must be in force this soon, with the 30 s re-scan far away. */
const APPLIED_WITHIN_MS = 5000;
const STOP_TIMEOUT_SECONDS = 10;
/** The supervisor idles at ~70 MiB; reading 1 MiB files cannot take it anywhere near this. */
const RSS_LIMIT_MIB = 256;

async function mkfifo(path: string): Promise<void> {
  const output = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

/** Mounts a new JWT of the demo account with `max_streams` set to `streams`. */
async function mountDemoLimit(setup: TempSetup, streams: number): Promise<void> {
  const updated = await makeAccount(setup.operator, {
    name: "demo",
    key: setup.demo.kp,
    signer: setup.operator.signingKey!.kp,
    limits: { streams },
  });
  await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt);
}

/** Waits until the running server enforces `max_streams` for a demo user (a fresh connection). */
async function expectDemoLimit(setup: TempSetup, streams: number): Promise<void> {
  await pollUntil(`max_streams ${streams} in force`, async () => {
    // A fresh connection each time: a SIGHUP on nats-server 2.10 disconnects every client.
    const nc = await connectWithCreds(setup.clientUrl, setup.demoUser.creds);
    try {
      const reply = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
      return (reply.json() as { limits?: { max_streams?: number } }).limits?.max_streams ===
        streams;
    } finally {
      await nc.close();
    }
  }, { timeoutMs: APPLIED_WITHIN_MS, intervalMs: 50 });
}

async function expectMaxConnections(setup: TempSetup, value: number): Promise<void> {
  await Deno.writeTextFile(setup.confPath, `${serverConfigText(setup)}max_connections: ${value}\n`);
  await pollUntil(`max_connections ${value}`, async () => {
    const varz = await monitor<{ max_connections: number }>(setup.options.monitorPort, "varz");
    return varz.max_connections === value;
  }, { timeoutMs: APPLIED_WITHIN_MS, intervalMs: 50 });
}

/** Sends SIGTERM and expects a clean exit well within the stop timeout. */
async function expectPromptStop(run: SupervisorRun): Promise<void> {
  const started = performance.now();
  run.signal("SIGTERM");
  const status = await pollUntil("the supervisor to exit after SIGTERM", async () => {
    if (!run.exited) return undefined;
    return await run.status;
  }, { timeoutMs: STOP_TIMEOUT_SECONDS * 1000 });
  const tookMs = performance.now() - started;
  assert.equal(status.code, 0, run.transcript());
  assert.ok(tookMs < STOP_TIMEOUT_SECONDS * 1000, `the stop took ${tookMs} ms`);
}

/** Lines that mention `path` followed by `what` (a kind of file, a size). */
function linesAbout(run: SupervisorRun, path: string, what: RegExp): number {
  return run.lines.filter((line) => line.includes(path) && what.test(line)).length;
}

Deno.test("a FIFO in each watched directory: changes still apply and SIGTERM still stops", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_STOP_TIMEOUT_SECONDS: String(STOP_TIMEOUT_SECONDS) },
  });
  await run.waitForLine(PUSHED);

  const fifos = [
    join(setup.mountDir, "fifo.jwt"),
    join(dirname(setup.confPath), "fifo.conf"),
    join(setup.sslDir, "fifo.pem"),
    join(setup.credsDir, "fifo.creds"),
  ];
  for (const fifo of fifos) await mkfifo(fifo);

  // A rename in the mount, then an in-place write of the config: the latter raises no event on
  // the directory itself, so only a working file watcher sees it within seconds.
  await mountDemoLimit(setup, 7);
  await expectDemoLimit(setup, 7);
  await expectMaxConnections(setup, 1234);
  for (const fifo of fifos) {
    assert.equal(
      linesAbout(run, fifo, /\bFIFO\b/),
      1,
      `one warning for ${fifo}\n${run.transcript()}`,
    );
  }
  await expectPromptStop(run);
});

Deno.test("links to /dev/zero in the mount, at start and added later: bounded and responsive", async () => {
  await using setup = await tempSetup();
  const atStart = join(setup.mountDir, "zero.jwt");
  const later = join(setup.mountDir, "zero-later.jwt");
  await Deno.symlink("/dev/zero", atStart);
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_STOP_TIMEOUT_SECONDS: String(STOP_TIMEOUT_SECONDS) },
  });
  const watchdog = rssWatchdog(run.process.pid, RSS_LIMIT_MIB);
  try {
    await pollUntil("the supervisor to start and push", () => {
      assert.ok(!watchdog.killed, `RSS passed ${RSS_LIMIT_MIB} MiB:\n${run.transcript()}`);
      assert.ok(!run.exited, run.transcript());
      return run.lines.some((line) => PUSHED.test(line));
    });
    await Deno.symlink("/dev/zero", later);
    await mountDemoLimit(setup, 7);
    await expectDemoLimit(setup, 7);
    await mountDemoLimit(setup, 8);
    await expectDemoLimit(setup, 8);
    assert.ok(!watchdog.killed, `RSS passed ${RSS_LIMIT_MIB} MiB`);
    assert.ok(watchdog.maxMiB < RSS_LIMIT_MIB, `RSS reached ${watchdog.maxMiB} MiB`);
    for (const link of [atStart, later]) {
      assert.equal(linesAbout(run, link, /character device/), 1, run.transcript());
    }
  } finally {
    watchdog.stop();
  }
  await expectPromptStop(run);
});

Deno.test("a 50 MB JWT is rejected with one log line and not read again by re-scans", async () => {
  await using setup = await tempSetup();
  const big = join(setup.mountDir, "big.jwt");
  await Deno.writeFile(big, new Uint8Array(50 * 1024 * 1024).fill(0x61));
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_RESCAN_SECONDS: "1", POT_NATS_LOG_LEVEL: "debug" },
  });
  const pid = run.process.pid;
  // Every re-scan is a pass (which also compares the resolver dir with the mount).
  const idlePass = /change pass: scanned/;
  await run.waitForLine(/watching for changes/);
  await run.waitForLine(idlePass);
  const cpuBefore = cpuSeconds(pid);
  const passesBefore = run.count(idlePass);
  await pollUntil("three more re-scans", () => run.count(idlePass) >= passesBefore + 3);
  const passes = run.count(idlePass) - passesBefore;
  const cpuPerPass = (cpuSeconds(pid) - cpuBefore) / passes;

  assert.equal(run.lines.filter((line) => line.includes(big)).length, 1, run.transcript());
  assert.match(
    run.lines.find((line) => line.includes(big)) ?? "",
    /52428800 bytes, more than POT_NATS_MAX_FILE_BYTES \(1048576\)/,
  );
  // Reading, decoding and hashing 50 MB costs ~0.5 s of CPU per pass; a re-scan of this setup
  // without it costs a few milliseconds.
  assert.ok(cpuPerPass < 0.15, `${cpuPerPass.toFixed(3)} s of CPU per re-scan`);
});

Deno.test("a watcher thread blocked for good on a vanished FIFO freezes nothing", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: { ...setup.env, POT_NATS_STOP_TIMEOUT_SECONDS: String(STOP_TIMEOUT_SECONDS) },
  });
  await run.waitForLine(PUSHED);
  const pid = run.process.pid;

  // Deno's watcher thread opens the path of every event. An event on a FIFO blocks it in open();
  // once that FIFO is removed, nothing can ever open it for writing, and the thread never returns.
  // The supervisor may be quicker and hold the FIFO open first: then try again.
  for (let attempt = 1;; attempt++) {
    const trap = join(setup.mountDir, `trap-${attempt}`);
    await mkfifo(trap);
    const waiting = await pollUntil(
      "the watcher thread to open the FIFO",
      () => watcherThreadWchan(pid) === "wait_for_partner",
      { timeoutMs: 2000, intervalMs: 1 },
    ).catch(() => false);
    await Deno.remove(trap);
    if (waiting && watcherThreadWchan(pid) === "wait_for_partner") break;
    assert.ok(attempt < 10, "the watcher thread could not be blocked");
  }

  await applyWhileWatcherBlocked(setup, run);
  assert.equal(watcherThreadWchan(pid), "wait_for_partner", "the premise: still blocked");
  await expectPromptStop(run);
});

/** What must still work while the watcher thread is blocked for good. */
async function applyWhileWatcherBlocked(setup: TempSetup, run: SupervisorRun): Promise<void> {
  // A rename in the mount: seen by the 1 s directory check.
  await mountDemoLimit(setup, 7);
  await expectDemoLimit(setup, 7);
  // A replaced TLS dir: its old watcher must be closed and a new one armed, and both calls would
  // wait for the blocked thread forever.
  const from = run.lines.length;
  await Deno.remove(setup.sslDir, { recursive: true });
  await Deno.mkdir(setup.sslDir);
  await Deno.writeTextFile(join(setup.sslDir, "tls.crt"), "cert");
  await run.waitForLine(/nats-server reloaded its configuration causes=tls/, {
    from,
    timeoutMs: APPLIED_WITHIN_MS,
  });
  await run.waitForLine(/file watcher thread is blocked/);
}
