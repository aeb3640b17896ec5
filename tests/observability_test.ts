/**
 * End-to-end: the supervisor's own HTTP endpoint through main.ts and a real nats-server: what the
 * metrics count, what `/status` says, when `/readyz` turns ready, that Prometheus's own tools
 * accept the exposition (`promtool check metrics`, and a real Prometheus server's scrape), and the
 * `status` and `healthcheck --ready` commands.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic } from "../src/mirror/writes.ts";
import type { StatusDocument } from "../src/report/status.ts";
import { makeAccount } from "../dev/jwt_fixtures.ts";
import { pollUntil } from "../dev/poll.ts";
import { freePort } from "../dev/ports.ts";
import { runSupervisor } from "../dev/supervisor_run.ts";
import { getMonitor } from "../src/shared/monitor.ts";
import { pathExists } from "../src/shared/path_exists.ts";
import { resolvePrometheusTool } from "../scripts/prometheus_tools.ts";
import { addAccount, removeFromMount } from "./_helpers/accounts.ts";
import { createStream } from "./_helpers/jetstream.ts";
import { type TempSetup, tempSetup } from "./_helpers/setup.ts";

const PUSHED = /pushed account JWTs to the server accounts=\d+ failed=0/;

/** GET of the supervisor's endpoint (the one monitor client, with its timeout). */
function get(setup: TempSetup, path: string): Promise<{ status: number; text: string }> {
  return getMonitor(Number(setup.env.POT_NATS_HTTP_PORT), path);
}

async function status(setup: TempSetup): Promise<StatusDocument> {
  return JSON.parse((await get(setup, "status")).text) as StatusDocument;
}

/** The value of one series (`name{labels}` exactly as exposed), or undefined when absent. */
async function metric(setup: TempSetup, series: string): Promise<number | undefined> {
  const { text } = await get(setup, "metrics");
  const line = text.split("\n").find((line) => line.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function promtoolCheck(exposition: string): Promise<{ code: number; output: string }> {
  const promtool = await resolvePrometheusTool("promtool");
  const child = new Deno.Command(promtool, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(exposition));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

Deno.test("the supervisor's endpoint: what its metrics count and its status says", async (t) => {
  await using setup = await tempSetup();
  await using run = runSupervisor({
    env: {
      ...setup.env,
      POT_NATS_PURGE_GRACE_SECONDS: "0",
      // The mirror lets two removals through, so that the purge's own guard refuses them.
      POT_NATS_REMOVE_MAX: "2",
    },
  });
  await run.waitForLine(PUSHED);

  await t.step("ready once mirrored and pushed; the exposition passes promtool", async () => {
    await pollUntil("ready", async () => (await get(setup, "readyz")).status === 200);
    assert.equal((await get(setup, "healthz")).status, 200);
    const document = await status(setup);
    assert.equal(document.server.state, "running");
    assert.equal(document.mirror.first_run_done, true);
    assert.equal(document.admin.state, "up");
    assert.equal(document.admin.first_push_attempted, true);
    assert.match(document.versions.nats_server ?? "", /^2\.\d+\.\d+/);
    assert.equal(await metric(setup, "pot_nats_server_up"), 1);
    assert.equal(await metric(setup, "pot_nats_admin_connection_up"), 1);
    const checked = await promtoolCheck((await get(setup, "metrics")).text);
    assert.equal(checked.code, 0, checked.output);
  });

  await t.step("a JWT change moves the pushes and the reaction histogram", async () => {
    const pushes = await metric(setup, `pot_nats_claims_pushes_total{result="ok"}`) ?? 0;
    const reactions = await metric(setup, `pot_nats_reaction_seconds_count{cause="jwt"}`) ?? 0;
    const updated = await makeAccount(setup.operator, {
      name: "demo",
      key: setup.demo.kp,
      limits: { subs: 12 },
    });
    await writeFileAtomic(join(setup.mountDir, `${setup.demo.pub}.jwt`), updated.jwt);
    await pollUntil(
      "one more push and one more jwt reaction",
      async () =>
        (await metric(setup, `pot_nats_claims_pushes_total{result="ok"}`))! > pushes &&
        (await metric(setup, `pot_nats_reaction_seconds_count{cause="jwt"}`))! > reactions,
    );
    assert.equal(await metric(setup, `pot_nats_changes_detected_total{cause="jwt"}`), 1);
  });

  await t.step("a rejected mount file shows in the metrics and in /status with why", async () => {
    const expired = await makeAccount(setup.operator, {
      name: "expired",
      exp: Math.floor(Date.now() / 1000) - 60,
    });
    await writeFileAtomic(join(setup.mountDir, `${expired.pub}.jwt`), expired.jwt);
    await pollUntil(
      "one rejected file",
      async () => (await metric(setup, "pot_nats_jwt_rejected_files")) === 1,
    );
    assert.equal(await metric(setup, `pot_nats_jwt_rejections_total{reason="expired"}`), 1);
    const rejected = (await status(setup)).mirror.rejected;
    assert.deepEqual(rejected.map((r) => r.file), [`${expired.pub}.jwt`]);
    assert.match(rejected[0]!.reason, /^expired at /);
    await Deno.remove(join(setup.mountDir, `${expired.pub}.jwt`));
    await pollUntil(
      "no rejected file",
      async () => (await metric(setup, "pot_nats_jwt_rejected_files")) === 0,
    );
  });

  await t.step("a refused purge is counted, and /status says why", async () => {
    const accounts = [];
    for (const name of ["one", "two"]) {
      const { account, nc } = await addAccount(setup, name);
      await createStream(nc, name.toUpperCase(), 1);
      await nc.close();
      accounts.push(account);
    }
    for (const account of accounts) await removeFromMount(setup, account);
    await pollUntil(
      "a refused purge",
      async () => (await metric(setup, `pot_nats_purges_total{result="refused"}`))! >= 1,
    );
    const refusal = (await status(setup)).purge.last_refusal;
    assert.match(refusal?.reason ?? "", /purge refused: 2 accounts are due .* POT_NATS_PURGE_MAX/);
    assert.equal(await metric(setup, `pot_nats_purges_total{result="purged"}`), 0);
  });

  await t.step("a JWT expiring past any date still leaves /status answering", async () => {
    // exp is a claim from the mount: 1e16 s is no date, and once made /status throw.
    const far = await makeAccount(setup.operator, {
      name: "far",
      signer: setup.operator.signingKey!.kp,
      exp: 1e16,
    });
    await writeFileAtomic(join(setup.mountDir, `${far.pub}.jwt`), far.jwt);
    await pollUntil("far's JWT mirrored", () => pathExists(join(setup.jwtDir, `${far.pub}.jwt`)));
    const response = await get(setup, "status");
    assert.equal(response.status, 200, response.text);
    assert.ok((JSON.parse(response.text) as StatusDocument).mirror.first_run_done);
  });

  await t.step("pot-nats status prints a summary, and --json the document", async () => {
    await using summary = runSupervisor({ env: setup.env, args: ["status"] });
    assert.equal((await summary.status).code, 0, summary.transcript());
    const text = summary.transcript();
    assert.match(text, /^server +running, pid \d+, up \d+/m);
    assert.match(text, /^ready +ready$/m);
    assert.match(text, /^purge +0 pending, last refusal /m);
    await using raw = runSupervisor({ env: setup.env, args: ["status", "--json"] });
    assert.equal((await raw.status).code, 0, raw.transcript());
    assert.equal((JSON.parse(raw.transcript()) as StatusDocument).server.state, "running");
  });
});

Deno.test("readiness waits for the first push to be attempted, and a failed one still counts", async () => {
  await using setup = await tempSetup();
  // A NATS_CLIENT_URL that accepts TCP and never speaks NATS: every admin connection attempt
  // waits out its 5 s connect timeout, so the first push stays unattempted that long.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const held: Deno.Conn[] = [];
  void (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    await using run = runSupervisor({
      env: { ...setup.env, NATS_CLIENT_URL: `nats://127.0.0.1:${silent.addr.port}` },
    });
    await run.waitForLine(/Server is ready/);
    await pollUntil("the first mirror", async () => (await status(setup)).mirror.first_run_done);
    const before = await get(setup, "readyz");
    assert.equal(before.status, 503);
    assert.equal(
      before.text,
      "not ready: the first push of the account JWTs has not been attempted\n",
    );

    const ready = await pollUntil(
      "ready after the failed attempt",
      async () => (await get(setup, "readyz")).status === 200 && await status(setup),
      { timeoutMs: 20_000 },
    );
    assert.equal(ready.admin.first_push_attempted, false);
    assert.match(ready.admin.problem ?? "", /admin connection attempt failed/);
    assert.equal(await metric(setup, "pot_nats_admin_connection_up"), 0);
    assert.ok(ready.recent.some((entry) => /admin connection attempt failed/.test(entry.message)));
    await using probe = runSupervisor({ env: setup.env, args: ["healthcheck", "--ready"] });
    assert.equal((await probe.status).code, 0, probe.transcript());
  } finally {
    silent.close();
    for (const conn of held) conn.close();
  }
});

Deno.test("a real Prometheus server scrapes the endpoint", async () => {
  await using setup = await tempSetup();
  await using run = runSupervisor({ env: setup.env });
  await run.waitForLine(PUSHED);
  const prometheus = await resolvePrometheusTool("prometheus");
  const config = join(setup.dir, "prometheus.yml");
  await Deno.writeTextFile(
    config,
    [
      "global: { scrape_interval: 1s }",
      "scrape_configs:",
      "  - job_name: pot-nats",
      `    static_configs: [{ targets: ["127.0.0.1:${setup.env.POT_NATS_HTTP_PORT}"] }]`,
      "",
    ].join("\n"),
  );
  const webPort = freePort();
  const server = new Deno.Command(prometheus, {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(setup.dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const query = (expr: string) =>
      `http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const value = await pollUntil("Prometheus to have scraped pot_nats_server_up", async () => {
      const body = await (await fetch(query("pot_nats_server_up"))).json() as {
        data?: { result?: { value: [number, string] }[] };
      };
      return body.data?.result?.[0]?.value[1];
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(value, "1");
    const pushes = await (await fetch(query(`pot_nats_claims_pushes_total{result="ok"}`))).json();
    assert.ok(Number(pushes.data.result[0].value[1]) >= 1);
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
});

Deno.test("the endpoint's port in use is a clear error, exit 1, before nats-server starts", async () => {
  await using setup = await tempSetup();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: Number(setup.env.POT_NATS_HTTP_PORT) });
  try {
    await using run = runSupervisor({ env: setup.env });
    assert.equal((await run.status).code, 1, run.transcript());
    assert.match(
      run.transcript(),
      /ERR the HTTP endpoint's address 127\.0\.0\.1:\d+ \(POT_NATS_HTTP_HOST, POT_NATS_HTTP_PORT\) is in use.*set POT_NATS_HTTP_PORT to a free port, or to 0/,
    );
    assert.equal(run.count(/nats-server started/), 0);
  } finally {
    taken.close();
  }
});
