import assert from "node:assert/strict";
import { EXIT_STATUSES } from "./command_line.ts";
import { helpText, parseSettings, SETTING_DOCS, SettingsError } from "./settings.ts";

const CWD = "/work/here";

Deno.test("settings: defaults match the reference contract", () => {
  const s = parseSettings({}, CWD);
  assert.equal(s.confPath, "/etc/nats/config/server.conf");
  assert.equal(s.accountsPath, "/etc/nats/config/accounts.conf");
  assert.equal(s.sslDir, "/etc/nats/certs");
  assert.equal(s.jwtDir, "/home/runner/nats/jwt");
  assert.equal(s.jwtMountDir, "/tmp/nats/jwt");
  assert.equal(s.mode, "server");
  assert.equal(s.credsDir, "/etc/nats/creds");
  assert.equal(s.serverBin, "/home/runner/bin/nats-server");
  assert.equal(s.monitorPort, 8222);
  assert.equal(s.sysUserCredPath, undefined);
  assert.equal(s.clientUrl, "nats://127.0.0.1:4222");
  assert.equal(s.jetstreamStoreDir, undefined);
  assert.equal(s.logLevel, "info");
  assert.equal(s.logFormat, "text");
  assert.equal(s.confWaitSeconds, 30);
  assert.equal(s.stopTimeoutSeconds, 30);
  assert.equal(s.lameDuck, false);
  assert.equal(s.debounceMs, 100);
  assert.equal(s.rescanSeconds, 30);
  assert.equal(s.maxFileBytes, 1048576);
  assert.deepEqual(s.clientTls, { ca: undefined, cert: undefined, key: undefined });
  assert.equal(s.operatorSigningKeyPath, undefined);
  assert.equal(s.purgeGraceSeconds, 60);
  assert.equal(s.purgeMax, undefined);
  assert.equal(s.purgeDryRun, false);
});

Deno.test("settings: every variable is read", () => {
  const s = parseSettings({
    NATS_CONF: "conf/server.conf",
    NATS_ACCOUNTS: "/a/accounts.conf",
    NATS_SSL_DIR: "/a/certs",
    NATS_JWT_DIR: "/a/jwt",
    NATS_JWT_MOUNT_DIR: "/a/mount",
    NATS_SERVER_MODE: "leaf",
    NATS_CREDS_DIR: "/a/creds",
    NATS_SERVER_BIN: "nats-server",
    NATS_MONITOR_PORT: "0",
    NATS_SYS_USER_CRED_PATH: "sys.creds",
    NATS_CLIENT_URL: "tls://nats.example:4443",
    NATS_JETSTREAM_STORE_DIR: "/a/js",
    POT_NATS_LOG_LEVEL: "debug",
    POT_NATS_LOG_FORMAT: "json",
    POT_NATS_CONF_WAIT_SECONDS: "5",
    POT_NATS_STOP_TIMEOUT_SECONDS: "7",
    POT_NATS_LAME_DUCK: "TRUE",
    POT_NATS_DEBOUNCE_MS: "0",
    POT_NATS_RESCAN_SECONDS: "0",
    POT_NATS_MAX_FILE_BYTES: "4096",
    POT_NATS_CLIENT_TLS_CA: "/a/ca.crt",
    POT_NATS_CLIENT_TLS_CERT: "/a/tls.crt",
    POT_NATS_CLIENT_TLS_KEY: "/a/tls.key",
    POT_NATS_OPERATOR_SIGNING_KEY: "/a/op.nk",
    POT_NATS_PURGE_GRACE_SECONDS: "0",
    POT_NATS_PURGE_MAX: "3",
    POT_NATS_PURGE_DRY_RUN: "true",
  }, CWD);
  assert.equal(s.confPath, "/work/here/conf/server.conf", "relative paths resolve against cwd");
  assert.equal(s.mode, "leaf");
  assert.equal(s.serverBin, "nats-server", "a bare binary name is looked up on PATH");
  assert.equal(s.monitorPort, 0);
  assert.equal(s.sysUserCredPath, "/a/creds/sys.creds", "relative creds live under the creds dir");
  assert.equal(s.clientUrl, "tls://nats.example:4443");
  assert.equal(s.jetstreamStoreDir, "/a/js");
  assert.equal(s.logLevel, "debug");
  assert.equal(s.logFormat, "json");
  assert.equal(s.confWaitSeconds, 5);
  assert.equal(s.stopTimeoutSeconds, 7);
  assert.equal(s.lameDuck, true);
  assert.equal(s.debounceMs, 0);
  assert.equal(s.rescanSeconds, 0);
  assert.equal(s.maxFileBytes, 4096);
  assert.deepEqual(s.clientTls, { ca: "/a/ca.crt", cert: "/a/tls.crt", key: "/a/tls.key" });
  assert.equal(s.operatorSigningKeyPath, "/a/op.nk");
  assert.equal(s.purgeGraceSeconds, 0);
  assert.equal(s.purgeMax, 3);
  assert.equal(s.purgeDryRun, true);
});

Deno.test("settings: an absolute creds path is used as is; empty values count as unset", () => {
  const s = parseSettings({ NATS_SYS_USER_CRED_PATH: "/x/sys.creds", NATS_MONITOR_PORT: "" }, CWD);
  assert.equal(s.sysUserCredPath, "/x/sys.creds");
  assert.equal(s.monitorPort, 8222);
});

Deno.test("settings: each bad value is an error naming the variable, value and accepted form", async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      "NATS_MONITOR_PORT",
      "80a",
      /^NATS_MONITOR_PORT must be an integer from 0 to 65535, got "80a"$/,
    ],
    [
      "NATS_MONITOR_PORT",
      "65536",
      /NATS_MONITOR_PORT must be an integer from 0 to 65535, got "65536"/,
    ],
    ["NATS_MONITOR_PORT", "-1", /NATS_MONITOR_PORT .* got "-1"/],
    ["NATS_SERVER_MODE", "lief", /^NATS_SERVER_MODE must be one of server, leaf, got "lief"$/],
    ["NATS_CLIENT_URL", "127.0.0.1:4222", /NATS_CLIENT_URL must be a URL like nats:\/\//],
    ["POT_NATS_LOG_LEVEL", "verbose", /POT_NATS_LOG_LEVEL must be one of debug, info, warn, error/],
    ["POT_NATS_LOG_FORMAT", "xml", /POT_NATS_LOG_FORMAT must be one of text, json, got "xml"/],
    ["POT_NATS_CONF_WAIT_SECONDS", "1.5", /POT_NATS_CONF_WAIT_SECONDS must be an integer/],
    [
      "POT_NATS_STOP_TIMEOUT_SECONDS",
      "0",
      /POT_NATS_STOP_TIMEOUT_SECONDS must be an integer from 1/,
    ],
    ["POT_NATS_LAME_DUCK", "yes", /POT_NATS_LAME_DUCK must be true or false, got "yes"/],
    ["POT_NATS_DEBOUNCE_MS", "fast", /POT_NATS_DEBOUNCE_MS must be an integer/],
    ["POT_NATS_RESCAN_SECONDS", "1e3", /POT_NATS_RESCAN_SECONDS must be an integer/],
    [
      "POT_NATS_MAX_FILE_BYTES",
      "1M",
      /^POT_NATS_MAX_FILE_BYTES must be an integer from 1024 to 1073741824, got "1M"$/,
    ],
    ["POT_NATS_MAX_FILE_BYTES", "512", /POT_NATS_MAX_FILE_BYTES must be an integer from 1024/],
    ["POT_NATS_PURGE_GRACE_SECONDS", "-5", /POT_NATS_PURGE_GRACE_SECONDS must be an integer/],
    ["POT_NATS_PURGE_MAX", "all", /POT_NATS_PURGE_MAX must be an integer/],
    ["POT_NATS_PURGE_DRY_RUN", "1", /POT_NATS_PURGE_DRY_RUN must be true or false/],
  ];
  for (const [name, value, message] of cases) {
    await t.step(`${name}=${value}`, () => {
      assert.throws(() => parseSettings({ [name]: value }, CWD), (error: Error) => {
        assert.ok(error instanceof SettingsError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("settings: all bad values are reported at once", () => {
  assert.throws(
    () => parseSettings({ NATS_MONITOR_PORT: "80a", NATS_SERVER_MODE: "lief" }, CWD),
    (error: Error) => error.message.split("\n").length === 2,
  );
});

Deno.test("settings: --help gives every setting one default phrase", () => {
  const lines = helpText("9.9.9").split("\n");
  for (const doc of SETTING_DOCS) {
    const line = lines.find((line) => line.startsWith(`  ${doc.name} `));
    assert.ok(line, doc.name);
    assert.ok(line.endsWith(`(default: ${doc.defaultText})`), line);
    assert.equal(line.match(/default/gi)?.length, 1, `one default phrase: ${line}`);
    if (doc.default !== undefined) assert.equal(doc.defaultText, doc.default);
  }
});

Deno.test("settings: --help ends with the exit statuses", () => {
  const text = helpText("9.9.9");
  const tail = text.slice(text.indexOf("Exit status:"));
  for (const { status, meaning } of EXIT_STATUSES) {
    assert.ok(tail.includes(`  ${status}`) && tail.includes(meaning), status);
  }
});
