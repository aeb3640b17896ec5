/** Unit tests of what the config means: trust material, store dir, resolver dir, the whole view. */

import assert from "node:assert/strict";
import { withFiles } from "../../tests/_helpers/temp_files.ts";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeOperator } from "@nats-io/jwt";
import { createAccount, createOperator } from "@nats-io/nkeys";
import { parseServerConfig, readServerConfig, type ServerConfig } from "./format.ts";
import { jetstreamStoreDir, resolverDir, ServerView, trustMaterial } from "./server_view.ts";

const MAIN_FILE = "/etc/nats/server.conf";

function config(text: string): ServerConfig {
  return parseServerConfig(text, MAIN_FILE, { env: {} });
}

const OPERATOR_JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJPUCJ9.c2ln";
const OTHER_OPERATOR_JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJPMiJ9.c2ln";

Deno.test("trustMaterial reads operator JWTs inline or from files, and trusted keys", async (t) => {
  await t.step("an inline operator JWT", () => {
    const trust = trustMaterial(config(`operator: "${OPERATOR_JWT}"`), MAIN_FILE);
    assert.deepEqual(trust, { operatorJwts: [OPERATOR_JWT], trustedKeys: [] });
  });
  await t.step("an operator file relative to the main config's directory, trimmed", () => {
    withFiles({
      "conf/server.conf": `operator: "./op.jwt"\n`,
      "conf/op.jwt": `\n${OPERATOR_JWT}\n\n`,
    }, (dir) => {
      const mainFile = join(dir, "conf/server.conf");
      const trust = trustMaterial(readServerConfig(mainFile, { env: {} }), mainFile);
      assert.deepEqual(trust.operatorJwts, [OPERATOR_JWT]);
    });
  });
  await t.step("an nsc-decorated operator file", () => {
    const decorated =
      `-----BEGIN NATS OPERATOR JWT-----\n${OPERATOR_JWT}\n------END NATS OPERATOR JWT------\n`;
    const readTextFile = (path: string) => path === "/etc/nats/op.jwt" ? decorated : "";
    const trust = trustMaterial(config("operator: op.jwt"), MAIN_FILE, { readTextFile });
    assert.deepEqual(trust.operatorJwts, [OPERATOR_JWT]);
  });
  await t.step("an array mixing inline JWTs and files, under `operators`", () => {
    const readTextFile = (path: string) => path === "/keys/o2.jwt" ? OTHER_OPERATOR_JWT : "";
    const trust = trustMaterial(config(`operators: [${OPERATOR_JWT}, /keys/o2.jwt]`), MAIN_FILE, {
      readTextFile,
    });
    assert.deepEqual(trust.operatorJwts, [OPERATOR_JWT, OTHER_OPERATOR_JWT]);
  });
  await t.step("trusted_keys as a string or an array, and trusted", () => {
    assert.deepEqual(trustMaterial(config("trusted_keys: OABC"), MAIN_FILE).trustedKeys, ["OABC"]);
    assert.deepEqual(trustMaterial(config("trusted: [OABC, ODEF]"), MAIN_FILE).trustedKeys, [
      "OABC",
      "ODEF",
    ]);
  });
  await t.step("a missing operator file is NotFound naming the file", () => {
    assert.throws(
      () =>
        trustMaterial(config(`operator: "./gone.jwt"`), MAIN_FILE, {
          readTextFile: (path) => {
            throw new Deno.errors.NotFound(path);
          },
        }),
      (error) =>
        error instanceof Deno.errors.NotFound && error.message.includes("/etc/nats/gone.jwt"),
    );
  });
  await t.step("an operator that is not a string is a TypeError", () => {
    assert.throws(() => trustMaterial(config("operator: 42"), MAIN_FILE), TypeError);
  });
});

Deno.test("jetstreamStoreDir returns the store dir nats-server uses, or null", async (t) => {
  const dirOf = (text: string) =>
    jetstreamStoreDir(config(text), "/srv/nats", { tmpDir: "/tmp-x" });
  await t.step("null when JetStream is absent or disabled", () => {
    assert.equal(dirOf("port: 4222"), null);
    assert.equal(dirOf("jetstream: disabled"), null);
    assert.equal(dirOf("jetstream: false"), null);
    assert.equal(dirOf("jetstream: { enabled: false, store_dir: /data }"), null);
    assert.equal(dirOf("store_dir: /data"), null);
  });
  await t.step("nats-server's default, <tmp>/nats, when enabled without a store dir", () => {
    assert.equal(dirOf("jetstream: enabled"), "/tmp-x/nats");
    assert.equal(dirOf("jetstream: true"), "/tmp-x/nats");
    assert.equal(dirOf("JetStream: ENABLE"), "/tmp-x/nats");
    assert.equal(dirOf("jetstream {}"), "/tmp-x/nats");
    assert.equal(dirOf("jetstream { max_mem: 1G }"), "/tmp-x/nats");
  });
  await t.step("store_dir, storedir or store in the block", () => {
    assert.equal(dirOf("jetstream { store_dir: /data/js }"), "/data/js");
    assert.equal(dirOf("jetstream { storedir: /data/js }"), "/data/js");
    assert.equal(dirOf("jetstream { store: /data/js, enabled: true }"), "/data/js");
  });
  await t.step("a relative store dir resolves against the server's working directory", () => {
    assert.equal(dirOf(`jetstream { store_dir: "./data" }`), "/srv/nats/data");
    assert.equal(dirOf(`jetstream: { store_dir: "../shared" }`), "/srv/shared");
  });
  await t.step("a top-level store_dir with jetstream enabled", () => {
    assert.equal(dirOf("store_dir: /data\njetstream: enabled"), "/data");
  });
  await t.step("a malformed setting is a TypeError", () => {
    assert.throws(() => dirOf("jetstream: maybe"), TypeError);
    assert.throws(() => dirOf("jetstream { store_dir: 1 }"), TypeError);
  });
});

Deno.test("resolverDir returns the full resolver's dir, or null", async (t) => {
  const dirOf = (text: string) => resolverDir(config(text), "/srv/nats");
  await t.step("a relative dir resolves against the server's working directory", () => {
    assert.equal(dirOf("resolver { type: full, dir: './jwt' }"), "/srv/nats/jwt");
    assert.equal(dirOf("resolver: { type: FULL, dir: /var/jwt }"), "/var/jwt");
    assert.equal(dirOf("account_resolver { type: full, dir: /var/jwt }"), "/var/jwt");
  });
  await t.step("null without a full resolver", () => {
    assert.equal(dirOf("port: 4222"), null);
    assert.equal(dirOf("resolver: MEMORY"), null);
    assert.equal(dirOf("resolver { type: cache, dir: /var/jwt }"), null);
  });
  await t.step("a full resolver without a dir is a TypeError", () => {
    assert.throws(() => dirOf("resolver { type: full }"), TypeError);
  });
});

Deno.test("a realistic operator-mode configuration reads completely", () => {
  const mainFile = fileURLToPath(
    new URL("../../tests/testdata/server_config/operator_mode/server.conf", import.meta.url),
  );
  const configDir = dirname(mainFile);
  const serverConfig = readServerConfig(mainFile, { env: { SERVER_NAME: "pot-1" } });
  const sys = "ADZSYSTEMACCOUNTPUBLICKEYFORTHEPOTNATSSERVERCONFIGTESTS";
  const preloadJwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJBRFoifQ.c2lnbmF0dXJl";

  assert.deepEqual(serverConfig.root, {
    port: 4222,
    monitor_port: 8222,
    server_name: "pot-1",
    operator: "./operator.jwt",
    system_account: sys,
    jetstream: { store_dir: "./data", max_mem: 1e9 },
    resolver: { type: "full", dir: "./jwt", allow_delete: true, interval: "2m", timeout: "1.9s" },
    resolver_preload: { [sys]: preloadJwt },
    resolver_pinned_accounts: [sys],
    tls: { cert_file: "/etc/nats/certs/tls.crt", key_file: "/etc/nats/certs/tls.key" },
    leafnodes: {
      remotes: [{ url: "nats-leaf://hub:7422", credentials: "/etc/nats/creds/leaf.creds" }],
    },
  });
  assert.deepEqual(serverConfig.files, [mainFile, join(configDir, "accounts.conf")]);
  assert.deepEqual(trustMaterial(serverConfig, mainFile), {
    operatorJwts: [Deno.readTextFileSync(join(configDir, "operator.jwt")).trim()],
    trustedKeys: [],
  });
  assert.equal(jetstreamStoreDir(serverConfig, configDir), join(configDir, "data"));
  assert.equal(resolverDir(serverConfig, configDir), join(configDir, "jwt"));

  const view = ServerView.read(mainFile, { env: { SERVER_NAME: "pot-1" } });
  assert.deepEqual(view.files, serverConfig.files);
  assert.equal(view.systemAccount, sys);
  assert.equal(view.storeDir(), join(configDir, "data"));
  assert.equal(view.resolverDir(), join(configDir, "jwt"));
  assert.equal(view.tlsRequired, true);
  assert.deepEqual(
    view.listenAddresses({ monitorPort: 0 }).map((a) => [a.role, a.port]),
    [["client", 4222], ["monitor", 8222]],
  );
});

Deno.test("ServerView finds the system account as nats-server does", async (t) => {
  const dir = await Deno.makeTempDir();
  const operator = createOperator();
  const named = createAccount().getPublicKey();
  const configured = createAccount().getPublicKey();
  const conf = join(dir, "server.conf");
  const writeOperator = async (claims: Record<string, unknown>) =>
    await Deno.writeTextFile(join(dir, "op.jwt"), await encodeOperator("OP", operator, claims));
  try {
    await t.step("system_account in the config wins", async () => {
      await writeOperator({ system_account: named });
      await Deno.writeTextFile(conf, `operator: op.jwt\nsystem_account: ${configured}\n`);
      assert.equal(ServerView.read(conf).systemAccount, configured);
    });
    await t.step("'system' is the same setting", async () => {
      await Deno.writeTextFile(conf, `operator: op.jwt\nsystem: ${configured}\n`);
      assert.equal(ServerView.read(conf).systemAccount, configured);
    });
    await t.step("without it, the operator JWT's system_account", async () => {
      await Deno.writeTextFile(conf, "operator: op.jwt\n");
      assert.equal(ServerView.read(conf).systemAccount, named);
      assert.ok(ServerView.read(conf).trust.operatorKeys.has(operator.getPublicKey()));
    });
    await t.step("an operator JWT that names none: no system account", async () => {
      await writeOperator({});
      assert.equal(ServerView.read(conf).systemAccount, undefined);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
