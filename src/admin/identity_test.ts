import assert from "node:assert/strict";
import { ServerView } from "../config/server_view.ts";
import { join } from "node:path";
import {
  type AdminConnectionFacts,
  type AdminVerdict,
  judgeAdminConnection,
  verifyAdminConnection,
} from "./identity.ts";
import { installTransportErrorGuard } from "./transport_guard.ts";
import { silentLogger } from "../shared/log.ts";
import { connectWithCreds } from "../../dev/nats_client.ts";
import { startNatsServer } from "../../tests/_helpers/nats_server.ts";
import { tempSetup } from "../../tests/_helpers/setup.ts";

const SYS = { key: "ASYS", source: "system_account in the server config" };

Deno.test("judgeAdminConnection", async (t) => {
  const good: AdminConnectionFacts = {
    userAccount: "ASYS",
    systemAccount: SYS,
    connectedServerId: "NCHILD",
    childServerId: "NCHILD",
    monitorOn: true,
  };
  const cases: [string, Partial<AdminConnectionFacts>, AdminVerdict["ok"], string?, RegExp?][] = [
    ["a system user on the child's server", {}, true],
    ["a system user, monitor off: the server cannot be checked", {
      monitorOn: false,
      childServerId: undefined,
    }, true],
    [
      "another account's user",
      { userAccount: "ADEMO" },
      false,
      "account",
      /ADEMO, not to the system account ASYS \(system_account in the server config\)/,
    ],
    [
      "another server than the child",
      { connectedServerId: "NOTHER" },
      false,
      "server",
      /reached nats-server NOTHER, not the one this supervisor runs \(NCHILD/,
    ],
    [
      "another server wins over another account",
      {
        connectedServerId: "NOTHER",
        userAccount: "ADEMO",
      },
      false,
      "server",
    ],
    [
      "no user info",
      { userAccount: undefined, problems: { userAccount: "timeout" } },
      false,
      "unknown",
      /did not say .*\(timeout\)/,
    ],
    [
      "no known system account",
      { systemAccount: undefined },
      false,
      "unknown",
      /set system_account/,
    ],
    [
      "the child's /varz did not answer",
      {
        childServerId: undefined,
        problems: { childServerId: "connection refused" },
      },
      false,
      "unknown",
      /\/varz did not answer \(connection refused\)/,
    ],
    [
      "the child's /varz did not answer, and the user is wrong: wait for creds",
      {
        childServerId: undefined,
        userAccount: "ADEMO",
      },
      false,
      "account",
    ],
  ];
  for (const [name, change, ok, problem, reason] of cases) {
    await t.step(name, () => {
      const verdict = judgeAdminConnection({ ...good, ...change });
      assert.equal(verdict.ok, ok, JSON.stringify(verdict));
      if (!verdict.ok) {
        assert.equal(verdict.problem, problem);
        if (reason) assert.match(verdict.reason, reason);
      }
    });
  }
});

Deno.test("verifyAdminConnection against a real server", async (t) => {
  await using setup = await tempSetup();
  await using server = await startNatsServer(setup);
  const removeGuard = installTransportErrorGuard(silentLogger);
  const options = {
    config: () => ServerView.read(setup.confPath),
    monitorPort: setup.options.monitorPort,
  };
  try {
    await t.step("the system user on this server is accepted", async () => {
      const nc = await connectWithCreds(server.url, setup.sysUser.creds);
      try {
        assert.deepEqual(await verifyAdminConnection(nc, options), { ok: true });
      } finally {
        await nc.close();
      }
    });
    await t.step("a demo user is refused, naming both accounts", async () => {
      const nc = await connectWithCreds(server.url, setup.demoUser.creds);
      try {
        const verdict = await verifyAdminConnection(nc, options);
        assert.equal(verdict.ok, false);
        if (!verdict.ok) {
          assert.equal(verdict.problem, "account");
          assert.match(verdict.reason, new RegExp(`${setup.demo.pub}.*${setup.system.pub}`));
        }
      } finally {
        await nc.close();
      }
    });
    await t.step(
      "without system_account in the config, /varz tells; without both, none",
      async () => {
        const conf = join(setup.dir, "config", "no-system.conf");
        await Deno.writeTextFile(conf, `port: ${setup.options.clientPort}\n`);
        const nc = await connectWithCreds(server.url, setup.sysUser.creds);
        try {
          assert.deepEqual(
            await verifyAdminConnection(nc, { ...options, config: () => ServerView.read(conf) }),
            {
              ok: true,
            },
          );
          const blind = await verifyAdminConnection(nc, {
            config: () => ServerView.read(conf),
            monitorPort: 0,
          });
          assert.equal(blind.ok, false, "no source names the system account");
        } finally {
          await nc.close();
        }
      },
    );
    await t.step("a monitor port of another server is a mismatch", async () => {
      await using other = await tempSetup();
      await using otherServer = await startNatsServer(other);
      const nc = await connectWithCreds(server.url, setup.sysUser.creds);
      try {
        const verdict = await verifyAdminConnection(nc, {
          ...options,
          monitorPort: other.options.monitorPort,
        });
        assert.equal(verdict.ok, false);
        if (!verdict.ok) assert.equal(verdict.problem, "server");
      } finally {
        await nc.close();
        await otherServer.stop();
      }
    });
  } finally {
    removeGuard();
  }
});
