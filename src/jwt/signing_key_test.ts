import assert from "node:assert/strict";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import { operatorKeyPairFrom, readOperatorSigningKey } from "./signing_key.ts";
import { SettingsError } from "../cli/settings.ts";

const seedOf = (kp: { getSeed(): Uint8Array }) => new TextDecoder().decode(kp.getSeed());

Deno.test("the operator signing key setting is checked for what the file holds", async (t) => {
  await t.step("an operator seed, with a trailing newline, is accepted", () => {
    const operator = createOperator();
    const kp = operatorKeyPairFrom(`${seedOf(operator)}\n`, "K");
    assert.equal(kp.getPublicKey(), operator.getPublicKey());
  });

  await t.step("an account or user seed is refused, naming what it is", () => {
    for (const [kp, what] of [[createAccount(), "an account"], [createUser(), "a user"]] as const) {
      const seed = seedOf(kp);
      assert.throws(
        () => operatorKeyPairFrom(seed, "K"),
        (error: Error) =>
          error instanceof SettingsError &&
          error.message.includes(`K holds the seed of ${what} (S${seed[1]}...)`) &&
          !error.message.includes(seed),
      );
    }
  });

  await t.step("text that is no seed is refused without being quoted", () => {
    for (
      const [text, hint] of [
        ["", "the file is empty"],
        ["eyJhbGciOi.eyJzdWIi.c2ln", "looks like a JWT"],
        ["-----BEGIN NATS USER JWT-----\n...", "creds or decorated key file"],
        ["hunter2", "7 characters"],
      ]
    ) {
      assert.throws(
        () => operatorKeyPairFrom(text!, "K"),
        (error: Error) =>
          error instanceof SettingsError && error.message.includes(hint!) &&
          (text === "" || !error.message.includes(text!)),
      );
    }
  });

  await t.step("a missing file or a directory is a settings error naming the path", async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const path of [`${dir}/missing.nk`, dir]) {
        await assert.rejects(
          () => readOperatorSigningKey(path),
          (error: Error) =>
            error instanceof SettingsError &&
            error.message.startsWith(`POT_NATS_OPERATOR_SIGNING_KEY "${path}" cannot be read`),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
