/**
 * Unit tests of the nats-server configuration reader: one case per syntax form, and includes and
 * variables with real files in a temporary directory. What the settings mean: server_view_test.ts.
 */

import assert from "node:assert/strict";
import { withFiles } from "../../tests/_helpers/temp_files.ts";
import { join } from "node:path";
import {
  type ConfigMap,
  ConfigSyntaxError,
  getKey,
  parseServerConfig,
  readServerConfig,
} from "./format.ts";

const MAIN_FILE = "/etc/nats/server.conf";

/** Parses `text` as /etc/nats/server.conf with an empty environment unless one is given. */
function parse(text: string, env: Record<string, string> = {}): ConfigMap {
  return parseServerConfig(text, MAIN_FILE, { env }).root;
}

/** Asserts that parsing `text` throws a ConfigSyntaxError at `line` whose message matches `message`. */
function assertSyntaxError(text: string, line: number, message: RegExp): void {
  assert.throws(() => parse(text), (error) => {
    assert.ok(error instanceof ConfigSyntaxError, `expected a ConfigSyntaxError, got ${error}`);
    assert.equal(error.file, MAIN_FILE);
    assert.equal(error.line, line);
    assert.ok(error.message.startsWith(`${MAIN_FILE}:${line}: `), error.message);
    assert.match(error.message, message);
    return true;
  });
}

/** Writes `files` (relative name -> text) into a new temporary directory, runs `test`, removes it. */

Deno.test("a key and its value may be separated by =, : or white space", async (t) => {
  await t.step("each separator, with or without spaces", () => {
    assert.deepEqual(parse("a = 1\nb: 2\nc 3\nd=4\ne:5\nf\t6"), {
      a: 1,
      b: 2,
      c: 3,
      d: 4,
      e: 5,
      f: 6,
    });
  });
  await t.step("keys may be quoted, and then may hold spaces", () => {
    assert.deepEqual(parse(`"a b": 1\n'c': 2\n"d" 3`), { "a b": 1, c: 2, d: 3 });
  });
  await t.step("entries are separated by new lines, commas or semicolons", () => {
    assert.deepEqual(parse("a: 1, b: 2; c: 3\r\nd: 4;\n"), { a: 1, b: 2, c: 3, d: 4 });
  });
  await t.step("a later key replaces an earlier one", () => {
    assert.deepEqual(parse("a: 1\na: 2"), { a: 2 });
  });
  await t.step("a whole file may be wrapped in braces, JSON style", () => {
    assert.deepEqual(parse(`{\n  "port": 4222,\n  "host": "0.0.0.0"\n}`), {
      port: 4222,
      host: "0.0.0.0",
    });
  });
  await t.step("a key named __proto__ is an ordinary key", () => {
    const root = parse("__proto__: 1");
    assert.equal(Object.getPrototypeOf(root), Object.prototype);
    assert.deepEqual(Object.entries(root), [["__proto__", 1]]);
  });
});

Deno.test("strings may be double-quoted with escapes, single-quoted raw, or bare", async (t) => {
  await t.step('double quotes understand \\n \\t \\r \\" \\\\ and \\xHH', () => {
    assert.equal(parse(String.raw`s: "a\nb\tc\rd\"e\\f\x41"`).s, 'a\nb\tc\rd"e\\fA');
  });
  await t.step("a double-quoted string may hold # // , ; } and new lines", () => {
    assert.equal(parse(`s: "x # y // z, ; }\nw"`).s, "x # y // z, ; }\nw");
  });
  await t.step("single quotes keep backslashes as they are", () => {
    assert.equal(parse(String.raw`s: 'C:\nats\"x'`).s, String.raw`C:\nats\"x`);
  });
  await t.step("bare strings: paths, addresses, URLs, names", () => {
    assert.deepEqual(
      parse(
        "dir: /data/js\nhost: 127.0.0.1\nlisten: 0.0.0.0:4222\nurl: nats://hub:7422\nname: n-1",
      ),
      {
        dir: "/data/js",
        host: "127.0.0.1",
        listen: "0.0.0.0:4222",
        url: "nats://hub:7422",
        name: "n-1",
      },
    );
  });
  await t.step("a bare string that starts with digits stays a string", () => {
    assert.equal(parse("name: 4222abc").name, "4222abc");
  });
  await t.step("a bare string ends at white space, a comma, a semicolon, ] or }", () => {
    assert.deepEqual(parse("a { b: x,c: y;d: z}"), { a: { b: "x", c: "y", d: "z" } });
  });
  await t.step("unquoted values nats-server rejects are errors that say to quote them", () => {
    assertSyntaxError(
      "dir: ./jwt",
      1,
      /rejects the unquoted value \.\/jwt: put it in quotes \("\.\/jwt"\)/,
    );
    assertSyntaxError("a {\n  timeout: 1.9s\n}", 2, /unquoted value 1\.9s/);
    assertSyntaxError("name: -abc", 1, /unquoted value -abc/);
  });
  await t.step("an unknown escape is an error", () => {
    assertSyntaxError(String.raw`s: "a\qb"`, 1, /invalid escape "\\q"/);
  });
  await t.step("a block string runs up to a ) alone at the start of a line", () => {
    assert.equal(
      parse("s: (\nline one (x)\n  line two\n)\nt: 1").s,
      "\nline one (x)\n  line two\n",
    );
  });
});

Deno.test("numbers, sizes and booleans are typed as nats-server types them", async (t) => {
  await t.step("integers and floats", () => {
    assert.deepEqual(parse("a: 4222\nb: -1\nc: 1.5\nd: -0.25"), {
      a: 4222,
      b: -1,
      c: 1.5,
      d: -0.25,
    });
  });
  await t.step("sizes: K M G T are powers of 1000, KB MB GB and KiB MiB GiB of 1024", () => {
    assert.deepEqual(parse("a: 1K\nb: 1KB\nc: 512MB\nd: 1G\ne: 1GB\nf: 2gib\ng: 1T\nh: 1mi"), {
      a: 1000,
      b: 1024,
      c: 512 * 1024 ** 2,
      d: 1e9,
      e: 1024 ** 3,
      f: 2 * 1024 ** 3,
      g: 1e12,
      h: 1024 ** 2,
    });
  });
  await t.step("an unquoted 2m is the size 2000000, a quoted one the duration string", () => {
    assert.deepEqual(parse(`a: 2m\nb: "2m"`), { a: 2_000_000, b: "2m" });
  });
  await t.step("true yes on and false no off, in any case", () => {
    assert.deepEqual(parse("a: true\nb: YES\nc: On\nd: false\ne: no\nf: OFF"), {
      a: true,
      b: true,
      c: true,
      d: false,
      e: false,
      f: false,
    });
  });
  await t.step("a quoted boolean or number stays a string", () => {
    assert.deepEqual(parse(`a: "true"\nb: '4222'`), { a: "true", b: "4222" });
  });
});

Deno.test("# and // start comments, on their own line or after a value", async (t) => {
  await t.step("full-line comments", () => {
    assert.deepEqual(parse("# hash\n// slashes\n  # indented\na: 1"), { a: 1 });
  });
  await t.step("trailing comments after each kind of value", () => {
    const text = [
      "a: 1 # hash",
      "b: 'x' // slashes",
      `c: "y"# tight`,
      "d { e: 2 } # after a block",
      "f: [1] // after an array",
    ].join("\n");
    assert.deepEqual(parse(text), { a: 1, b: "x", c: "y", d: { e: 2 }, f: [1] });
  });
  await t.step("comments inside blocks", () => {
    assert.deepEqual(parse("a {\n  # first\n  b: 1 // second\n  // third\n}"), { a: { b: 1 } });
  });
  await t.step("a # glued to a bare string is part of it, as in nats-server", () => {
    assert.equal(parse("a: abc#def").a, "abc#def");
  });
});

Deno.test("blocks nest, with or without a separator, on one line or many", async (t) => {
  await t.step("name { }, name: { }, name = { } and a new line before {", () => {
    assert.deepEqual(parse("a { x: 1 }\nb: { x: 2 }\nc = { x: 3 }\nd\n{ x: 4 }"), {
      a: { x: 1 },
      b: { x: 2 },
      c: { x: 3 },
      d: { x: 4 },
    });
  });
  await t.step("nested blocks over several lines", () => {
    const text = "cluster {\n  name: c1\n  authorization {\n    user: u\n    timeout: 2\n  }\n}";
    assert.deepEqual(parse(text), {
      cluster: { name: "c1", authorization: { user: "u", timeout: 2 } },
    });
  });
  await t.step("a one-line block separates entries with commas", () => {
    assert.deepEqual(parse("a { b: 1, c: 2 }"), { a: { b: 1, c: 2 } });
  });
  await t.step("inside a block a value may follow its separator on the next line", () => {
    assert.deepEqual(parse("a {\n  b =\n    1\n}"), { a: { b: 1 } });
  });
  await t.step("empty blocks", () => {
    assert.deepEqual(parse("a {}\nb: { }"), { a: {}, b: {} });
  });
});

Deno.test("arrays hold any values, on one line or many, with comments inside", async (t) => {
  await t.step("one line, mixed values, trailing comma", () => {
    assert.deepEqual(parse(`a: [1, "x", true, y, 1K,]`), { a: [1, "x", true, "y", 1000] });
  });
  await t.step("several lines, items separated by new lines or commas, comments between", () => {
    const text = 'a: [\n  # first\n  1,\n  2 // second\n  "three" # third\n]';
    assert.deepEqual(parse(text), { a: [1, 2, "three"] });
  });
  await t.step("arrays of blocks and of arrays", () => {
    assert.deepEqual(parse("a = [ { b: 1 }, { c: [2, 3] } ]\nd: [[1], []]"), {
      a: [{ b: 1 }, { c: [2, 3] }],
      d: [[1], []],
    });
  });
});

Deno.test("include merges another file's keys at that point, relative to the including file", async (t) => {
  await t.step("a bare and a quoted include, and where the merged keys land", () => {
    withFiles({
      "server.conf": `port: 1\ninclude ./a.conf\nhost: main\ninclude "b.conf"\n`,
      "a.conf": "port: 2\nhost: from-a\n",
      "b.conf": "max_payload: 1MB\n",
    }, (dir) => {
      const { root, files } = readServerConfig(join(dir, "server.conf"), { env: {} });
      assert.deepEqual(root, { port: 2, host: "main", max_payload: 1024 ** 2 });
      assert.deepEqual(files, [join(dir, "server.conf"), join(dir, "a.conf"), join(dir, "b.conf")]);
    });
  });
  await t.step("an include inside a block merges into that block", () => {
    withFiles({
      "server.conf": "jetstream {\n  include 'js.conf'; max_mem: 1G\n}\n",
      "js.conf": "store_dir: /data\n",
    }, (dir) => {
      const { root } = readServerConfig(join(dir, "server.conf"), { env: {} });
      assert.deepEqual(root, { jetstream: { store_dir: "/data", max_mem: 1e9 } });
    });
  });
  await t.step("nested includes resolve against each including file's own directory", () => {
    withFiles({
      "etc/server.conf": "include conf.d/accounts.conf\n",
      "etc/conf.d/accounts.conf": "include ./more/users.conf\na: 1\n",
      "etc/conf.d/more/users.conf": "b: 2\ninclude ../../tls.conf\n",
      "etc/tls.conf": "c: 3\n",
    }, (dir) => {
      const { root, files } = readServerConfig(join(dir, "etc/server.conf"), { env: {} });
      assert.deepEqual(root, { b: 2, c: 3, a: 1 });
      assert.deepEqual(files, [
        join(dir, "etc/server.conf"),
        join(dir, "etc/conf.d/accounts.conf"),
        join(dir, "etc/conf.d/more/users.conf"),
        join(dir, "etc/tls.conf"),
      ]);
    });
  });
  await t.step("a file included twice is listed once", () => {
    withFiles({
      "server.conf": "a { include common.conf }\nb { include common.conf }\n",
      "common.conf": "x: 1\n",
    }, (dir) => {
      const { root, files } = readServerConfig(join(dir, "server.conf"), { env: {} });
      assert.deepEqual(root, { a: { x: 1 }, b: { x: 1 } });
      assert.deepEqual(files, [join(dir, "server.conf"), join(dir, "common.conf")]);
    });
  });
  await t.step(
    "an absolute include name is joined to the including directory, as nats-server does",
    () => {
      withFiles({ "server.conf": "include /etc/x.conf\n", "etc/x.conf": "a: 1\n" }, (dir) => {
        assert.deepEqual(readServerConfig(join(dir, "server.conf"), { env: {} }).root, { a: 1 });
      });
    },
  );
  await t.step("a missing included file is NotFound naming the including file and line", () => {
    withFiles({ "server.conf": "port: 1\ninclude ./missing.conf\n" }, (dir) => {
      assert.throws(
        () => readServerConfig(join(dir, "server.conf"), { env: {} }),
        (error) => {
          assert.ok(error instanceof Deno.errors.NotFound);
          assert.match(
            error.message,
            /server\.conf:2: the included file .*missing\.conf does not exist/,
          );
          return true;
        },
      );
    });
  });
  await t.step("an include cycle is an error", () => {
    withFiles({ "server.conf": "include a.conf\n", "a.conf": "include server.conf\n" }, (dir) => {
      assert.throws(
        () => readServerConfig(join(dir, "server.conf"), { env: {} }),
        (error) => error instanceof ConfigSyntaxError && /include cycle/.test(error.message),
      );
    });
  });
  await t.step("includes are read through the readTextFile option", () => {
    const texts: Record<string, string> = { "/cfg/sub/a.conf": "a: 1" };
    const readTextFile = (path: string) => texts[path] ?? "";
    const { root } = parseServerConfig("include sub/a.conf", "/cfg/main.conf", {
      env: {},
      readTextFile,
    });
    assert.deepEqual(root, { a: 1 });
  });
});

Deno.test("a $variable takes a value defined earlier in the file, else from the environment", async (t) => {
  await t.step("a variable defined at the top, used at the top and in a block", () => {
    assert.deepEqual(parse(`NAME = "n1"\nserver_name: $NAME\nc { name: $NAME }`), {
      NAME: "n1",
      server_name: "n1",
      c: { name: "n1" },
    });
  });
  await t.step("the innermost definition wins, and keeps its type", () => {
    const root = parse("PORT: 1\na { PORT: 2, p: $PORT }\nb: [ { p: $PORT } ]");
    assert.deepEqual(root.a, { PORT: 2, p: 2 });
    assert.deepEqual(root.b, [{ p: 1 }]);
  });
  await t.step("from the environment, parsed as a value", () => {
    const env = { SERVER_NAME: "edge-1", PORT: "4333", DEBUG: "true" };
    assert.deepEqual(parse("server_name: $SERVER_NAME\nport: $PORT\ndebug: $DEBUG", env), {
      server_name: "edge-1",
      port: 4333,
      debug: true,
    });
  });
  await t.step("a definition in the file wins over the environment", () => {
    assert.equal(parse("NAME: file\nn: $NAME", { NAME: "env" }).n, "file");
  });
  await t.step("an unknown variable is an error naming it with the file and line", () => {
    assertSyntaxError("port: 4222\nserver_name: $SERVER_NAME", 2, /unknown variable \$SERVER_NAME/);
  });
  await t.step(
    "an environment value nats-server cannot parse is an error naming the variable",
    () => {
      assert.throws(
        () => parse("a: 1\nstore: $DIR", { DIR: "./data" }),
        (error) =>
          error instanceof ConfigSyntaxError && error.line === 2 &&
          /environment variable DIR \(used as \$DIR\) is not a valid value/.test(error.message),
      );
    },
  );
  await t.step("a bcrypt hash is a password, not a variable", () => {
    assert.equal(parse("password: $2a$11$abcdefghij").password, "$2a$11$abcdefghij");
  });
  await t.step(
    "an included file's variables are visible after the include, not the other way",
    () => {
      withFiles({
        "server.conf": "include vars.conf\nserver_name: $NAME\n",
        "vars.conf": "NAME: from-include\n",
        "uses.conf": "NAME: main\ninclude uses_name.conf\n",
        "uses_name.conf": "server_name: $NAME\n",
      }, (dir) => {
        const { root } = readServerConfig(join(dir, "server.conf"), { env: {} });
        assert.equal(root.server_name, "from-include");
        assert.throws(
          () => readServerConfig(join(dir, "uses.conf"), { env: {} }),
          (error) =>
            error instanceof ConfigSyntaxError && error.file === join(dir, "uses_name.conf") &&
            error.line === 1,
        );
      });
    },
  );
});

Deno.test("a syntax error names the file and line and says what was expected", async (t) => {
  await t.step("an unclosed block", () => {
    const text = "port: 4222\njetstream {\n  store_dir: /data\n\nhost: x\n";
    assertSyntaxError(
      text,
      6,
      /expected "}" to close the block opened on line 2, found the end of the file/,
    );
  });
  await t.step("an unclosed array", () => {
    assertSyntaxError("a: [1,\n2\n", 3, /expected "]" to close the array opened on line 1/);
  });
  await t.step("an unclosed string is reported where it opens", () => {
    assertSyntaxError(`a: 1\nb: "open\n\nc: 2`, 2, /never closed; add the closing "/);
  });
  await t.step("two entries on one line need a comma, as in nats-server", () => {
    assertSyntaxError(
      `tls { cert_file: "a.crt"  key_file: "a.key" }`,
      1,
      /expected a new line, "," or "}" after the value of "cert_file", found "key_file:"/,
    );
    assertSyntaxError("port: 4222 host: x", 1, /after the value of "port", found "host:"/);
  });
  await t.step("a key without a value", () => {
    assertSyntaxError("port =\n4222", 1, /expected a value for "port", found a new line/);
    assertSyntaxError("a { b: , c: 1 }", 1, /expected a value for "b", found ","/);
  });
  await t.step("a stray separator", () => {
    assertSyntaxError("a: 1\n: 2", 2, /expected a key, found ":"/);
    assertSyntaxError("a: [1,,2]", 1, /expected a value for "a", found ","/);
  });
  await t.step("an include without a file name", () => {
    assertSyntaxError("include\n", 1, /expected a file name after include/);
  });
  await t.step("a huge or hostile word is quoted, escaped and bounded", () => {
    const word = "\x1b" + "w".repeat(1_000_000);
    assertSyntaxError(
      `port: 4222 ${word}`,
      1,
      new RegExp(
        String.raw`after the value of "port", found "\\x1bw{196}…\(\+999804 chars\)"$`,
      ),
    );
  });
});

Deno.test("getKey matches keys case-insensitively, as nats-server does", () => {
  const root = parse("JetStream: enabled\nPORT: 1");
  assert.equal(getKey(root, "jetstream"), "enabled");
  assert.equal(getKey(root, "Port"), 1);
  assert.equal(getKey(root, "host"), undefined);
});
