/**
 * The operator signing key (`POT_NATS_OPERATOR_SIGNING_KEY`): a file holding an operator nkey seed
 * (`SO...`), which signs the `$SYS.REQ.CLAIMS.DELETE` requests of live account deletes. It is read
 * and checked at start, like every other setting, so a wrong file is found before the first
 * removal rather than at it.
 */

import { fromSeed, type KeyPair } from "@nats-io/nkeys";
import { SettingsError } from "../cli/settings.ts";

const SETTING = "POT_NATS_OPERATOR_SIGNING_KEY";

/** Roles of nkey public keys by their first letter, for messages. */
const ROLES: Record<string, string> = {
  O: "an operator",
  A: "an account",
  U: "a user",
  N: "a server",
  C: "a cluster",
  X: "a curve (xkey)",
};

/**
 * Reads and checks the operator seed in `path`.
 * @returns its key pair
 * @throws {SettingsError} naming the setting, the file and what it holds instead (never the seed)
 */
export async function readOperatorSigningKey(path: string): Promise<KeyPair> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("it is not a regular file");
    if (info.size > 4096) throw new Error(`it is ${info.size} bytes, far more than a seed`);
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new SettingsError(
      `${SETTING} ${JSON.stringify(path)} cannot be read: ${(error as Error).message}; ` +
        "point it at a file holding the operator's signing key seed (SO...)",
    );
  }
  return operatorKeyPairFrom(text, `${SETTING} ${JSON.stringify(path)}`);
}

/**
 * Checks that `text` holds an operator seed (surrounding whitespace ignored).
 * @param label names the source in the message
 * @throws {SettingsError} saying what `text` holds instead (never quoting it)
 */
export function operatorKeyPairFrom(text: string, label: string): KeyPair {
  let kp: KeyPair;
  try {
    kp = fromSeed(new TextEncoder().encode(text.trim()));
  } catch {
    throw new SettingsError(
      `${label} does not hold an nkey seed (${describeText(text)}); it must hold the operator's ` +
        "signing key seed (SO...), for example from `nsc` or the operator's key store",
    );
  }
  const role = kp.getPublicKey().slice(0, 1);
  if (role !== "O") {
    throw new SettingsError(
      `${label} holds the seed of ${ROLES[role] ?? `a ${role}... key`} (S${role}...), not an ` +
        "operator seed (SO...); live account deletes must be signed by the operator or one of its " +
        "signing keys",
    );
  }
  return kp;
}

/** What a text that is not a seed looks like, without revealing it. */
function describeText(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return "the file is empty";
  if (trimmed.startsWith("eyJ")) return "it looks like a JWT";
  if (trimmed.includes("-----BEGIN")) return "it looks like a creds or decorated key file";
  return `${trimmed.length} characters`;
}
