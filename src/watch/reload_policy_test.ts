import assert from "node:assert/strict";
import { type Cause, CAUSES, decideReload } from "./reload_policy.ts";

function subsets(): Set<Cause>[] {
  const all: Set<Cause>[] = [];
  for (let mask = 0; mask < 1 << CAUSES.length; mask++) {
    all.push(new Set(CAUSES.filter((_, i) => mask & (1 << i))));
  }
  return all;
}

Deno.test("reload policy, server mode: any change but a JWT change reloads", async (t) => {
  await t.step("nothing changed: nothing happens", () => {
    assert.deepEqual(decideReload("server", new Set()), {
      testConfig: false,
      action: "none",
    });
  });
  for (const cause of CAUSES.filter((c) => c !== "jwt")) {
    await t.step(`${cause} alone -> SIGHUP`, () => {
      assert.equal(decideReload("server", new Set([cause])).action, "reload");
    });
  }
  await t.step("jwt alone is mirror only: the claims push applies it, a SIGHUP cannot", () => {
    assert.deepEqual(decideReload("server", new Set(["jwt"])), {
      testConfig: false,
      action: "none",
    });
  });
  await t.step("jwt with another cause mirrors and reloads", () => {
    assert.deepEqual(decideReload("server", new Set(["jwt", "tls"])), {
      testConfig: false,
      action: "reload",
    });
  });
});

Deno.test("reload policy, leaf mode: the cause -> action table", async (t) => {
  const expected: Record<Cause, string> = {
    config: "restart",
    accounts: "restart",
    creds: "restart",
    tls: "reload",
    jwt: "none",
  };
  for (const cause of CAUSES) {
    await t.step(`${cause} alone -> ${expected[cause]}`, () => {
      assert.equal(decideReload("leaf", new Set([cause])).action, expected[cause]);
    });
  }
  await t.step("a restart wins over a reload", () => {
    assert.equal(decideReload("leaf", new Set(["tls", "creds"])).action, "restart");
  });
  await t.step("jwt alone is mirror only", () => {
    assert.deepEqual(decideReload("leaf", new Set(["jwt"])), {
      testConfig: false,
      action: "none",
    });
  });
});

Deno.test("reload policy: the config is tested when the config or accounts file drives an action, and before every restart", () => {
  for (const mode of ["server", "leaf"] as const) {
    for (const changed of subsets()) {
      const decision = decideReload(mode, changed);
      const configDriven = changed.has("config") || changed.has("accounts");
      assert.equal(
        decision.testConfig,
        configDriven || decision.action === "restart",
        `${mode} ${[...changed]}`,
      );
      if (changed.size === 0) assert.equal(decision.action, "none");
      if (changed.size === 1 && changed.has("jwt")) assert.equal(decision.action, "none");
    }
  }
});

Deno.test("reload policy, leaf mode: a restart for creds alone tests the config first", () => {
  // A CA file that broke in the same pass would make nats-server refuse to start.
  assert.deepEqual(decideReload("leaf", new Set(["creds"])), {
    testConfig: true,
    action: "restart",
  });
  assert.deepEqual(decideReload("leaf", new Set(["creds", "tls"])), {
    testConfig: true,
    action: "restart",
  });
  assert.deepEqual(decideReload("leaf", new Set(["tls"])), { testConfig: false, action: "reload" });
});
