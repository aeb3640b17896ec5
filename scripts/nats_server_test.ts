import assert from "node:assert/strict";
import {
  compareVersions,
  debianUpstreamVersion,
  describeFetchError,
  isSupportedVersion,
  parseVersion,
  versionFoldersNewestFirst,
} from "./nats_server.ts";
import { freePort } from "../dev/ports.ts";

Deno.test("nats-server versions: parsed, compared as numbers, 2.10 the oldest supported", () => {
  assert.deepEqual(parseVersion("nats-server: v2.10.27"), [2, 10, 27]);
  assert.equal(parseVersion("nats-server: dev"), undefined);
  assert.ok(compareVersions([2, 10, 0], [2, 9, 25]) > 0, "2.10 is newer than 2.9");
  assert.ok(compareVersions([2, 12, 4], [2, 15, 1]) < 0);
  assert.equal(compareVersions([2, 15, 1], [2, 15, 1]), 0);
  assert.ok(isSupportedVersion("nats-server: v2.10.0"));
  assert.ok(!isSupportedVersion("nats-server: v2.9.25"));
});

Deno.test("nats-server cache: version folders newest first, everything else left out", () => {
  assert.deepEqual(
    versionFoldersNewestFirst(["2.9.25", "apt", "2.10.27", "bin", "2.15.1", "stage-x1", "2.12.4"]),
    ["2.15.1", "2.12.4", "2.10.27", "2.9.25"],
  );
  assert.deepEqual(versionFoldersNewestFirst(["apt", "2.10.27.tmp"]), []);
});

Deno.test("nats-server from Debian: the upstream version of a package version", () => {
  assert.deepEqual(debianUpstreamVersion("2.10.27-1+b3"), [2, 10, 27]);
  assert.deepEqual(debianUpstreamVersion("1:2.15.1-1"), [2, 15, 1]);
  assert.equal(debianUpstreamVersion("unknown"), undefined);
});

Deno.test("nats-server download: a failure says why", async (t) => {
  await t.step("a refused connection", async () => {
    const port = freePort(); // nothing listens there
    const error = await fetch(`http://127.0.0.1:${port}/x`).catch((e) => e);
    assert.match(describeFetchError(error, 1000), /tcp connect error: Connection refused/);
  });

  await t.step("a host that never answers", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
    const accepted = listener.accept(); // accepted, never answered
    const error = await fetch(`http://127.0.0.1:${listener.addr.port}/x`, {
      signal: AbortSignal.timeout(100),
    }).catch((e) => e);
    assert.equal(describeFetchError(error, 15_000), "no answer within 15 s");
    (await accepted).close();
  });

  await t.step("a DNS failure, as Deno's fetch reports it", () => {
    const cause = new Error(
      "error sending request for url (https://release.example/x.tar.gz): client error " +
        "(Connect): dns error: failed to lookup address information: Name or service not known",
    );
    assert.equal(
      describeFetchError(new TypeError("fetch failed", { cause }), 15_000),
      "client error (Connect): dns error: failed to lookup address information: Name or " +
        "service not known",
    );
  });
});
