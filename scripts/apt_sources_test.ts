import assert from "node:assert/strict";
import { join } from "node:path";
import { debianArchives, readDebianArchives } from "./apt_sources.ts";

// Host names here are examples: the repository never names a real package archive.
const MIRROR = "http://mirror.example/debian";
const LOCAL = "http://127.0.0.1:3142/debian";

Deno.test("apt sources: deb822 stanzas", async (t) => {
  await t.step("every URI of a stanza, the security archive left out", () => {
    const text = [
      "Types: deb",
      "# a comment line inside a stanza",
      `URIs: ${MIRROR} ${LOCAL}/`,
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
      "",
      "Types: deb",
      "URIs: http://security.example/debian-security",
      "Suites: bookworm-security",
      "Components: main",
      "",
    ].join("\n");
    assert.deepEqual(debianArchives([{ path: "/etc/apt/sources.list.d/debian.sources", text }]), [
      {
        uri: MIRROR,
        signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
        origin: "/etc/apt/sources.list.d/debian.sources:1",
      },
      {
        uri: LOCAL,
        signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
        origin: "/etc/apt/sources.list.d/debian.sources:1",
      },
    ]);
  });

  await t.step("deb-src only, disabled stanzas and an inline key", () => {
    const text = [
      "Types: deb-src",
      `URIs: ${MIRROR}`,
      "Suites: sid",
      "",
      "Enabled: no",
      "Types: deb",
      "URIs: http://disabled.example/debian",
      "Suites: sid",
      "",
      "Types: deb deb-src",
      `URIs: ${LOCAL}`,
      "Suites: trixie",
      "Trusted: yes",
      "Signed-By:",
      " -----BEGIN PGP PUBLIC KEY BLOCK-----",
      " .",
      " mQINBF...",
      " -----END PGP PUBLIC KEY BLOCK-----",
    ].join("\n");
    assert.deepEqual(debianArchives([{ path: "x.sources", text }]), [
      { uri: LOCAL, trusted: true, origin: "x.sources:10" },
    ]);
  });
});

Deno.test("apt sources: one-line entries", () => {
  const text = [
    "# deb http://commented.example/debian sid main",
    `deb [arch=amd64 signed-by=/etc/apt/keyrings/mirror.gpg] ${MIRROR} trixie main contrib`,
    `deb [ trusted=yes ] ${LOCAL} stable main   # a local mirror`,
    `deb-src ${MIRROR} trixie main`,
    "deb http://security.example/debian-security trixie-security main",
    "deb cdrom:[Debian GNU/Linux]/ bookworm main",
    `deb ${MIRROR}/ sid main`,
    "",
  ].join("\n");
  assert.deepEqual(debianArchives([{ path: "/etc/apt/sources.list", text }]), [
    { uri: MIRROR, signedBy: "/etc/apt/keyrings/mirror.gpg", origin: "/etc/apt/sources.list:2" },
    { uri: LOCAL, trusted: true, origin: "/etc/apt/sources.list:3" },
  ]);
});

Deno.test("apt sources: read from a configuration directory", async (t) => {
  const etc = await Deno.makeTempDir({ prefix: "pot-nats-apt-" });
  try {
    await t.step("nothing configured is a clear error", async () => {
      await assert.rejects(
        readDebianArchives(etc),
        /no Debian archive in the machine's apt configuration .*set NATS_SERVER_BIN/,
      );
    });

    await t.step("sources.list first, then sources.list.d in name order", async () => {
      await Deno.mkdir(join(etc, "sources.list.d"));
      await Deno.writeTextFile(join(etc, "sources.list"), `deb ${LOCAL} sid main\n`);
      await Deno.writeTextFile(
        join(etc, "sources.list.d", "b.sources"),
        `Types: deb\nURIs: ${MIRROR}\nSuites: bookworm\n`,
      );
      await Deno.writeTextFile(
        join(etc, "sources.list.d", "a.list"),
        "deb http://a.example/debian trixie main\n",
      );
      await Deno.writeTextFile(
        join(etc, "sources.list.d", "c.list.disabled"),
        "deb http://c.example/debian trixie main\n",
      );
      const archives = await readDebianArchives(etc);
      assert.deepEqual(archives.map((a) => a.uri), [LOCAL, "http://a.example/debian", MIRROR]);
    });
  } finally {
    await Deno.remove(etc, { recursive: true });
  }
});
