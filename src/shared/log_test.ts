import assert from "node:assert/strict";
import { fromSeed } from "@nats-io/nkeys";
import { clip, createLogger, longField, quote, redact, show } from "./log.ts";
import { RAW_UNSAFE } from "../../tests/_helpers/log_capture.ts";

const NOW = () => new Date("2026-11-22T10:00:00.000Z");

function capture(level: "debug" | "info" | "warn" | "error", format: "text" | "json") {
  const lines: string[] = [];
  const log = createLogger({ level, format, now: NOW, write: (line) => lines.push(line) });
  return { log, lines };
}

Deno.test("log: text lines carry time, level, message and fields on one line", () => {
  const { log, lines } = capture("info", "text");
  log.info("nats-server started", { pid: 42, args: "-c /x y" });
  assert.deepEqual(lines, [
    '[pot-nats] 2026-11-22T10:00:00.000Z INF nats-server started pid=42 args="-c /x y"',
  ]);
});

Deno.test("log: json lines are one object each", () => {
  const { log, lines } = capture("info", "json");
  log.warn("two\nlines", { error: new Error("boom\nbang") });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-22T10:00:00.000Z",
    level: "warn",
    source: "pot-nats",
    msg: "two\nlines",
    error: "boom | bang",
  });
});

Deno.test("log: levels below the threshold are dropped", () => {
  const { log, lines } = capture("warn", "text");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, / WRN w$/);
  assert.match(lines[1]!, / ERR e$/);
});

Deno.test("log: a seed or a JWT never reaches a line", () => {
  const seed = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4";
  const jwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkMifQ.c2lnbmF0dXJlX2J5dGVz";
  const { log, lines } = capture("debug", "text");
  log.error(`bad creds ${seed}`, { jwt, nested: { seed } });
  assert.doesNotMatch(lines[0]!, /SUAIBDPB|eyJ0eXAi/);
  assert.equal(redact(`x ${seed} y`), "x [redacted] y");
});

// Hostile input: what a mounted file name, a claim or a server reply may hold.

const SEED = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4";
/** The seed's public key: 56 characters, never masked. */
const PUBLIC_KEY = fromSeed(new TextEncoder().encode(SEED)).getPublicKey();
const JWT =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkMifQ.c2lnbmF0dXJlX2J5dGVz";
/** ESC (a terminal sequence), CR, LF, NUL, DEL, U+2028, a bidi override and isolate, a C1 CSI. */
const HOSTILE = "evil\x1b[2J\rfake\nERR forged\0\x7f\u2028\u202etxt.exe\u2066\x9b";

Deno.test("log: text lines show control, separator and bidi characters as escapes", () => {
  const { log, lines } = capture("info", "text");
  log.error(`mounted JWT ${HOSTILE} rejected`, { name: HOSTILE, [`k${HOSTILE}`]: 1 });
  assert.deepEqual(lines, [
    String
      .raw`[pot-nats] 2026-11-22T10:00:00.000Z ERR mounted JWT evil\x1b[2J\rfake | ERR forged\x00\x7f\u2028\u202etxt.exe\u2066\x9b rejected` +
    String.raw` name="evil\x1b[2J\rfake\nERR forged\x00\x7f\u2028\u202etxt.exe\u2066\x9b"` +
    String.raw` "kevil\x1b[2J\rfake\nERR forged\x00\x7f\u2028\u202etxt.exe\u2066\x9b"=1`,
  ]);
  assert.doesNotMatch(lines[0]!, RAW_UNSAFE);
});

Deno.test("log: json lines escape every unsafe character, parse, and keep the values", () => {
  const { log, lines } = capture("info", "json");
  log.error(`mounted JWT ${HOSTILE} rejected`, { name: HOSTILE });
  assert.deepEqual(lines, [
    String.raw`{"time":"2026-11-22T10:00:00.000Z","level":"error","source":"pot-nats",` +
    String
      .raw`"msg":"mounted JWT evil\u001b[2J\rfake\nERR forged\u0000\u007f\u2028\u202etxt.exe\u2066\u009b rejected",` +
    String
      .raw`"name":"evil\u001b[2J\rfake\nERR forged\u0000\u007f\u2028\u202etxt.exe\u2066\u009b"}`,
  ]);
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-22T10:00:00.000Z",
    level: "error",
    source: "pot-nats",
    msg: `mounted JWT ${HOSTILE} rejected`,
    name: HOSTILE,
  });
});

Deno.test("log: a lone surrogate is an escape in text and parses in json", () => {
  const text = capture("info", "text");
  text.log.info("a\ud800b", { value: "\udc00", pair: "😀" });
  assert.deepEqual(text.lines, [
    String.raw`[pot-nats] 2026-11-22T10:00:00.000Z INF a\ud800b value="\udc00" pair=😀`,
  ]);
  const json = capture("info", "json");
  json.log.info("a\ud800b", { value: "\udc00" });
  assert.equal(
    json.lines[0],
    String
      .raw`{"time":"2026-11-22T10:00:00.000Z","level":"info","source":"pot-nats","msg":"a\ud800b","value":"\udc00"}`,
  );
  assert.deepEqual(JSON.parse(json.lines[0]!).value, "\udc00");
});

Deno.test("log: the message is cut at 1000 and each field value at 200, with a marker", () => {
  const text = capture("info", "text");
  text.log.info("m".repeat(5000), { value: "x".repeat(1_000_000), count: 3 });
  assert.deepEqual(text.lines, [
    `[pot-nats] 2026-11-22T10:00:00.000Z INF ${"m".repeat(1000)}…(+4000 chars)` +
    ` value="${"x".repeat(200)}…(+999800 chars)" count=3`,
  ]);
  const json = capture("info", "json");
  json.log.info("m".repeat(5000), { value: "x".repeat(1_000_000), count: 3 });
  assert.deepEqual(json.lines, [
    `{"time":"2026-11-22T10:00:00.000Z","level":"info","source":"pot-nats","msg":"${
      "m".repeat(1000)
    }…(+4000 chars)",` +
    `"value":"${"x".repeat(200)}…(+999800 chars)","count":3}`,
  ]);
});

Deno.test("log: the bound counts escapes as written and never splits one", async (t) => {
  const escapes = "a" + "\x1b".repeat(100);
  const emoji = "a" + "😀".repeat(150);
  await t.step("text", () => {
    const { log, lines } = capture("info", "text");
    log.info("m", { escapes, emoji });
    assert.deepEqual(lines, [
      `[pot-nats] 2026-11-22T10:00:00.000Z INF m escapes="a${"\\x1b".repeat(49)}…(+51 chars)"` +
      ` emoji="a${"😀".repeat(99)}…(+102 chars)"`,
    ]);
  });
  await t.step("json", () => {
    const { log, lines } = capture("info", "json");
    log.info("m", { escapes, emoji });
    assert.deepEqual(lines, [
      `{"time":"2026-11-22T10:00:00.000Z","level":"info","source":"pot-nats","msg":"m",` +
      `"escapes":"a${"\\u001b".repeat(33)}…(+67 chars)","emoji":"a${
        "😀".repeat(99)
      }…(+102 chars)"}`,
    ]);
  });
});

Deno.test("log: seeds and JWTs are masked anywhere in a string; public keys never", () => {
  const cases: [string, string][] = [
    [`${SEED}_x`, "[redacted]_x"],
    [`x${SEED}`, "x[redacted]"],
    [`file=${SEED}.creds`, "file=[redacted].creds"],
    [`${SEED}ABC7`, "[redacted]"],
    [`x${JWT}x`, "x[redacted]"],
    [`token:abc_${JWT}.tail`, "token:abc_[redacted].tail"],
    [`${JWT}.${JWT}`, "[redacted].[redacted]"],
    [
      `-----BEGIN NATS USER JWT-----\n${JWT}\n------END NATS USER JWT------\n\n` +
      `-----BEGIN USER NKEY SEED-----\n${SEED}\n------END USER NKEY SEED------`,
      `-----BEGIN NATS USER JWT-----\n[redacted]\n------END NATS USER JWT------\n\n` +
      `-----BEGIN USER NKEY SEED-----\n[redacted]\n------END USER NKEY SEED------`,
    ],
    [PUBLIC_KEY, PUBLIC_KEY],
    [`x${PUBLIC_KEY}x.jwt`, `x${PUBLIC_KEY}x.jwt`],
    ["eyJhbGciOi.short", "eyJhbGciOi.short"],
  ];
  for (const [input, expected] of cases) assert.equal(redact(input), expected, input);

  const { log, lines } = capture("info", "text");
  log.info(`x${JWT}x ${SEED}_x`, { key: PUBLIC_KEY, seed: `x${SEED}` });
  assert.deepEqual(lines, [
    `[pot-nats] 2026-11-22T10:00:00.000Z INF x[redacted] [redacted]_x key=${PUBLIC_KEY}` +
    ` seed=x[redacted]`,
  ]);
});

Deno.test("log: a secret is masked before the cut, so no part of it leaks", () => {
  const { log, lines } = capture("info", "text");
  log.info("m", { seed: "x".repeat(195) + SEED, jwt: "y".repeat(150) + JWT });
  assert.deepEqual(lines, [
    `[pot-nats] 2026-11-22T10:00:00.000Z INF m seed="${"x".repeat(195)}[reda…(+5 chars)"` +
    ` jwt=${"y".repeat(150)}[redacted]`,
  ]);
  assert.equal(quote("x".repeat(195) + SEED), `"${"x".repeat(195)}[reda…(+5 chars)"`);
  assert.equal(clip(SEED.repeat(10), 20), "[redacted]");
});

Deno.test("log: masking a hostile megabyte takes linear time", () => {
  const started = performance.now();
  for (const text of ["eyJ".repeat(400_000), ("SA" + "A".repeat(55) + "!").repeat(20_000)]) {
    assert.equal(redact(text), text);
  }
  // A backtracking pattern (eyJ[...]{8,}\. without \b) takes hours on the first input.
  assert.ok(performance.now() - started < 5000, `${performance.now() - started} ms`);
});

Deno.test("log: a json line keeps its own fields and never throws on odd values", () => {
  const { log, lines } = capture("info", "json");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log.info("m", {
    msg: "x",
    level: "y",
    source: "z",
    big: 10n,
    cycle,
    list: [1, "\x1b"],
    nothing: null,
  });
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-22T10:00:00.000Z",
    level: "info",
    source: "pot-nats",
    msg: "m",
    big: "10",
    cycle: "[object Object]",
    list: '[1,"\\u001b"]',
    nothing: null,
  });
});

Deno.test("quote, show and clip embed outside values bounded", async (t) => {
  await t.step("quote: like JSON.stringify for plain values, escaped and bounded", () => {
    assert.equal(quote("HS256"), '"HS256"');
    assert.equal(quote('a"b\\c'), JSON.stringify('a"b\\c'));
    assert.equal(quote(undefined), "undefined");
    assert.equal(quote(5), "5");
    assert.equal(quote({ typ: "x" }), '{"typ":"x"}');
    assert.equal(
      quote(HOSTILE),
      String.raw`"evil\x1b[2J\rfake\nERR forged\x00\x7f\u2028\u202etxt.exe\u2066\x9b"`,
    );
    assert.equal(quote("x".repeat(1_000_000)), `"${"x".repeat(200)}…(+999800 chars)"`);
    assert.equal(quote("abcdef", 3), '"abc…(+3 chars)"');
    assert.equal(quote({ typ: "x".repeat(300) }, 10), '{"typ":"xx…(+300 chars)');
  });
  await t.step("show: a plain word as is, anything else quoted", () => {
    assert.equal(show(PUBLIC_KEY), PUBLIC_KEY);
    assert.equal(show(`${PUBLIC_KEY}.jwt`), `${PUBLIC_KEY}.jwt`);
    assert.equal(show("a b.jwt"), '"a b.jwt"');
    assert.equal(show("a=b"), '"a=b"');
    assert.equal(show("evil\x1b\r.jwt"), String.raw`"evil\x1b\r.jwt"`);
    assert.equal(show("x".repeat(201)), `"${"x".repeat(200)}…(+1 chars)"`);
    assert.equal(show(undefined), "undefined");
  });
  await t.step("clip: masked and bounded, not escaped", () => {
    assert.equal(clip("a\x1bb"), "a\x1bb");
    assert.equal(clip("x".repeat(300)), `${"x".repeat(200)}…(+100 chars)`);
    assert.equal(clip(`${SEED} is a seed`), "[redacted] is a seed");
  });
});

Deno.test("log: a long field keeps up to 1000 characters", () => {
  const { log, lines } = capture("info", "text");
  log.error("the changed config is invalid", { nats_server: longField("o".repeat(5000)) });
  assert.deepEqual(lines, [
    `[pot-nats] 2026-11-22T10:00:00.000Z ERR the changed config is invalid` +
    ` nats_server="${"o".repeat(1000)}…(+4000 chars)"`,
  ]);
});
