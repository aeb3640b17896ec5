/**
 * TLS material for tests and benchmarks, made with the `openssl` command: a CA and a server
 * certificate for 127.0.0.1 signed by it.
 */

import { join } from "node:path";

/** Whether the `openssl` command can be run here (tests that need certificates skip without it). */
export async function opensslAvailable(): Promise<boolean> {
  return await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
    .output().then((output) => output.success, () => false);
}

/**
 * Writes a CA (`ca.crt`, `ca.key`) and a server certificate for IP 127.0.0.1 signed by it
 * (`tls.crt`, `tls.key`) into `dir`, each valid for a day.
 * @throws when an openssl step fails, with openssl's message
 */
export async function makeCertificates(dir: string): Promise<void> {
  const run = async (args: string[]) => {
    const output = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!output.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=pot-nats test CA",
  ]);
  await run(["req", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=127.0.0.1"]);
  await Deno.writeTextFile(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  await run([
    "x509",
    "-req",
    "-in",
    "tls.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "tls.crt",
    "-days",
    "1",
    "-extfile",
    "san.ext",
  ]);
}
