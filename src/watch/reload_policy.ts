/**
 * What a change requires of nats-server, by cause and mode. Pure: the pipeline asks, another
 * module acts.
 *
 * - `server` mode: a change of the config, accounts file, creds or TLS dir -> SIGHUP.
 * - `leaf` mode: TLS -> SIGHUP; config, accounts file or creds -> a graceful restart, because
 *   leafnode remotes cannot be changed by a reload (nats-server 2.10.27 refuses it: "config reload
 *   not supported for LeafNode").
 * - The config is tested with `nats-server -t` before a change of the config or accounts file is
 *   acted on, and before every restart, whatever caused it: a config nats-server refuses at start
 *   ends the server (and the supervisor with it), while a refused reload leaves the old config
 *   running. A broken CA file that arrives with a creds change would otherwise take a leaf down.
 * - JWTs, in both modes: mirrored, then applied by the claims push, never by a SIGHUP. A SIGHUP
 *   does not apply a changed JWT of a loaded account (new accounts load from the resolver dir on
 *   first use anyway), and on nats-server 2.10 every SIGHUP in operator mode disconnects all
 *   clients (measured on 2.10.27; 2.15.1 keeps them): for a JWT change it could only do harm.
 */

import type { ServerMode } from "../cli/settings.ts";

export const CAUSES = ["config", "accounts", "tls", "jwt", "creds"] as const;
export type Cause = typeof CAUSES[number];

export type ServerAction = "none" | "reload" | "restart";

export interface ReloadDecision {
  /** Test the config with `nats-server -t` first; a failing config stops the action. */
  testConfig: boolean;
  action: ServerAction;
}

/** Decides what the changed causes require; no change -> nothing. */
export function decideReload(mode: ServerMode, changed: ReadonlySet<Cause>): ReloadDecision {
  const action = mode === "server" ? serverModeAction(changed) : leafModeAction(changed);
  const configChanged = changed.has("config") || changed.has("accounts");
  return {
    testConfig: action === "restart" || (action !== "none" && configChanged),
    action,
  };
}

function serverModeAction(changed: ReadonlySet<Cause>): ServerAction {
  return [...changed].some((cause) => cause !== "jwt") ? "reload" : "none";
}

function leafModeAction(changed: ReadonlySet<Cause>): ServerAction {
  if (changed.has("config") || changed.has("accounts") || changed.has("creds")) return "restart";
  if (changed.has("tls")) return "reload";
  return "none";
}
