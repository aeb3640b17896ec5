import assert from "node:assert/strict";
import { chooseClientTls, type ClientTlsInputs } from "./tls.ts";

const base: ClientTlsInputs = {
  clientUrl: "nats://127.0.0.1:4222",
  sslDir: "/certs",
  settings: { ca: undefined, cert: undefined, key: undefined },
  serverRequiresTls: false,
  exists: () => true,
};

Deno.test("admin TLS: a plain URL to a server without TLS uses no TLS, even if files exist", () => {
  assert.equal(chooseClientTls(base), undefined);
});

Deno.test("admin TLS: tls:// or a TLS-requiring server uses the SSL dir's defaults", () => {
  const expected = { ca: "/certs/ca.crt", cert: "/certs/tls.crt", key: "/certs/tls.key" };
  assert.deepEqual(chooseClientTls({ ...base, clientUrl: "tls://127.0.0.1:4222" }), expected);
  assert.deepEqual(chooseClientTls({ ...base, serverRequiresTls: true }), expected);
});

Deno.test("admin TLS: settings win over defaults; missing defaults are left out", () => {
  const files = chooseClientTls({
    ...base,
    clientUrl: "tls://x:1",
    settings: { ca: "/x/ca.pem", cert: undefined, key: undefined },
    exists: (path) => path === "/certs/tls.crt",
  });
  assert.deepEqual(files, { ca: "/x/ca.pem" }, "a cert without its key is not used");
});
