/** The mirror run's reading of the server config: which trust, and which system account. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeOperator } from "@nats-io/jwt";
import { createAccount, createOperator } from "@nats-io/nkeys";
import { readServerTrust } from "./mirror.ts";

Deno.test("readServerTrust finds the system account as nats-server does", async (t) => {
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
      assert.equal(readServerTrust(conf).systemAccount, configured);
    });
    await t.step("'system' is the same setting", async () => {
      await Deno.writeTextFile(conf, `operator: op.jwt\nsystem: ${configured}\n`);
      assert.equal(readServerTrust(conf).systemAccount, configured);
    });
    await t.step("without it, the operator JWT's system_account", async () => {
      await Deno.writeTextFile(conf, "operator: op.jwt\n");
      assert.equal(readServerTrust(conf).systemAccount, named);
      assert.ok(readServerTrust(conf).trust.operatorKeys.has(operator.getPublicKey()));
    });
    await t.step("an operator JWT that names none: no system account", async () => {
      await writeOperator({});
      assert.equal(readServerTrust(conf).systemAccount, undefined);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
