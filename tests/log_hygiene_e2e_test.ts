/**
 * End-to-end: hostile files in the JWT mount, through main.ts, in both log formats. Whatever a
 * file name or a claim holds, no line of the supervisor carries a raw control character or runs
 * past a bound, every JSON line parses, and each rejection names its file escaped.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createAccount } from "@nats-io/nkeys";
import { makeAccount, signClaims } from "./_helpers/jwt_fixtures.ts";
import { RAW_UNSAFE } from "./_helpers/log_capture.ts";
import { pollUntil } from "./_helpers/poll.ts";
import { tempSetup } from "./_helpers/setup.ts";
import { runSupervisor } from "./_helpers/supervisor.ts";

/** Longest supervisor line allowed here, in UTF-8 bytes: a message (1000) and a few fields. */
const LINE_MAX_BYTES = 2048;

Deno.test("hostile mount files are logged escaped and bounded, as text and as JSON", async (t) => {
  await using setup = await tempSetup();
  const accountClaims = (sub: string, extra: Record<string, unknown> = {}) => ({
    iss: setup.operator.pub,
    sub,
    nats: { type: "account", version: 2 },
    ...extra,
  });

  // (a) A file name with ESC and CR (a terminal sequence that clears the screen).
  const evilName = "evil\x1b[2J\rname.jwt";
  // (b) A JWT with a huge header, named after a valid account key: 700 KB of header is ~930 KB of
  // base64, just under the file size cap (POT_NATS_MAX_FILE_BYTES, 1 MiB), so the check sees it.
  const bigHeaderKey = createAccount().getPublicKey();
  const bigHeaderJwt = signClaims(accountClaims(bigHeaderKey), setup.operator.kp, {
    typ: "\x1b]0;pwned\x07" + "x".repeat(700_000),
    alg: "ed25519-nkey",
  });
  // (c) An account JWT whose name claim holds ESC and CR, under another account's file name.
  const named = await makeAccount(setup.operator, { name: "\x1b[31mred\rname" });
  const mismatchFile = `${createAccount().getPublicKey()}.jwt`;
  // (d) A JWT whose sub holds ESC and CR.
  const hostileSubFile = `${createAccount().getPublicKey()}.jwt`;
  const hostileSubJwt = signClaims(accountClaims("A\x1b[31mEVIL\rX"), setup.operator.kp);

  await Deno.writeTextFile(join(setup.mountDir, evilName), named.jwt);
  await Deno.writeTextFile(join(setup.mountDir, `${bigHeaderKey}.jwt`), bigHeaderJwt);
  await Deno.writeTextFile(join(setup.mountDir, mismatchFile), named.jwt);
  await Deno.writeTextFile(join(setup.mountDir, hostileSubFile), hostileSubJwt);

  /**
   * What each rejection says, as a text line shows it (escaped). The file name may be shown bare
   * or quoted; either way its escaped form is in the line.
   */
  const rejections: [string, string][] = [
    [String.raw`evil\x1b[2J\rname.jwt`, `sub ${named.pub} does not match the file name`],
    [`${bigHeaderKey}.jwt`, String.raw`not a JWT: header typ is "\x1b]0;pwned\x07`],
    [mismatchFile, `sub ${named.pub} does not match the file name ${mismatchFile}`],
    [hostileSubFile, String.raw`sub "A\x1b[31mEVIL\rX" does not match the file name`],
  ];

  for (const format of ["text", "json"] as const) {
    await t.step(`POT_NATS_LOG_FORMAT=${format}`, async () => {
      await using run = runSupervisor({
        env: { ...setup.env, POT_NATS_LOG_FORMAT: format, NATS_SYS_USER_CRED_PATH: "" },
      });
      const prefix = format === "json" ? "{" : "[pot-nats]";
      await run.waitForLine(/watching for changes/);
      // Every hostile file is checked before nats-server starts: four rejections by now.
      await pollUntil(
        "four rejection lines",
        // dotAll: on a line that fails this test, a raw CR may sit between the two words.
        () => run.count(/mounted JWT .* rejected/s) >= rejections.length,
      ).catch((error) => {
        throw new Error(`${(error as Error).message}\n--- output ---\n${run.transcript()}`);
      });

      const lines = run.lines.filter((line) => line.startsWith(prefix));
      assert.ok(lines.length > rejections.length, run.transcript());
      if (format === "json") {
        assert.equal(run.count(/^\[pot-nats\]/), 0, "no text line in JSON mode");
      }
      for (const line of lines) {
        const shown = JSON.stringify(line.slice(0, 300));
        if (format === "json") assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${shown}`);
        assert.doesNotMatch(line, RAW_UNSAFE, `a raw control character in: ${shown}`);
        const bytes = new TextEncoder().encode(line).length;
        assert.ok(bytes <= LINE_MAX_BYTES, `${bytes} bytes: ${shown}`);
      }

      const messages = lines.map((line) => format === "json" ? parsedMsg(line) : line);
      for (const [file, reason] of rejections) {
        assert.ok(
          messages.some((msg) =>
            msg.includes("mounted JWT ") && msg.includes(file) && msg.includes(reason)
          ),
          `no rejection of ${file} saying ${reason}:\n${messages.join("\n")}`,
        );
      }
      assert.ok(messages.some((msg) => msg.includes('…(+699816 chars)", not "JWT"')));
    });
  }
});

/**
 * The message of a JSON line with ESC, BEL and CR written as a text line shows them, so one
 * expectation covers both formats, whether a value reached the message raw or already quoted.
 * @throws when the line is not valid JSON
 */
function parsedMsg(line: string): string {
  const { msg } = JSON.parse(line) as { msg: string };
  return msg.replaceAll("\x1b", "\\x1b").replaceAll("\r", "\\r").replaceAll("\x07", "\\x07");
}
