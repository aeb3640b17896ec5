import assert from "node:assert/strict";
import { Metrics, REJECTION_REASONS, rejectionReason } from "./metrics.ts";

Deno.test("metrics: every labelled series exists from the start, at 0", async () => {
  const text = await new Metrics({ processMetrics: false }).text();
  for (
    const series of [
      `pot_nats_changes_detected_total{cause="jwt"} 0`,
      `pot_nats_reloads_total{cause="config",result="invalid_config"} 0`,
      `pot_nats_claims_pushes_total{result="failed"} 0`,
      `pot_nats_claims_deletes_total{result="ok"} 0`,
      `pot_nats_purges_total{result="refused"} 0`,
      `pot_nats_jwt_rejections_total{reason="signature"} 0`,
    ]
  ) {
    assert.ok(text.includes(`\n${series}\n`), series);
  }
  assert.doesNotMatch(text, /^process_/m, "no process metrics when asked for none");
});

Deno.test("metrics: the process metrics carry the client's default names", async () => {
  const text = await new Metrics().text();
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes"]) {
    assert.match(text, new RegExp(`^${name} \\d`, "m"), name);
  }
  assert.doesNotMatch(text, /_total\b.*\n.*# TYPE \w+_total gauge/);
});

Deno.test("metrics: a rejection reason text becomes one word of a fixed set", async (t) => {
  const cases: [string, string][] = [
    ["expired at 2026-01-01T00:00:00.000Z", "expired"],
    ["not valid before 2030-01-01T00:00:00.000Z", "not_yet_valid"],
    ["signature does not verify with issuer OABC", "signature"],
    ["issuer OABC is not the trusted operator or one of its signing keys", "issuer"],
    ['not an account JWT: its type is "user", not "account"', "type"],
    ["sub AB does not match the file name AC.jwt", "subject"],
    ["could not be read: permission denied", "unreadable"],
    ["52428800 bytes, more than POT_NATS_MAX_FILE_BYTES (1048576)", "too_large"],
    ["a FIFO, not a regular file", "not_regular"],
    ["not a JWT: expected 3 dot-separated parts, found 1", "malformed"],
    // Claims quoted in a reason do not pick its word.
    ['sub "FIFO" does not match the file name AC.jwt', "subject"],
    ['the JWT\'s iat is not a number: "too large signature"', "malformed"],
  ];
  for (const [reason, word] of cases) {
    await t.step(word, () => {
      assert.equal(rejectionReason(reason), word);
      assert.ok((REJECTION_REASONS as readonly string[]).includes(word));
    });
  }
});
