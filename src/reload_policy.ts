/**
 * What a change requires of nats-server, by cause and mode. Pure: the pipeline asks, another
 * module acts.
 *
 * - `server` mode: an effective change of any cause -> SIGHUP (JWTs are mirrored first).
 * - `leaf` mode: TLS -> SIGHUP; config, accounts file or creds -> a graceful restart, because
 *   leafnode remotes cannot be changed by a reload; JWTs -> mirror only (the claims push applies them).
 */

import type { ServerMode } from "./settings.ts";

export const CAUSES = ["config", "accounts", "tls", "jwt", "creds"] as const;
export type Cause = typeof CAUSES[number];

export type ServerAction = "none" | "reload" | "restart";

export interface ReloadDecision {
  /** Mirror the JWT mount into the resolver dir before anything else. */
  mirror: boolean;
  /** Test the config with `nats-server -t` first; a failing config stops the action. */
  testConfig: boolean;
  action: ServerAction;
}

/** Decides what the changed causes require; no change -> nothing. */
export function decideReload(mode: ServerMode, changed: ReadonlySet<Cause>): ReloadDecision {
  const action = mode === "server" ? serverModeAction(changed) : leafModeAction(changed);
  return {
    mirror: changed.has("jwt"),
    testConfig: action !== "none" && (changed.has("config") || changed.has("accounts")),
    action,
  };
}

function serverModeAction(changed: ReadonlySet<Cause>): ServerAction {
  return changed.size > 0 ? "reload" : "none";
}

function leafModeAction(changed: ReadonlySet<Cause>): ServerAction {
  if (changed.has("config") || changed.has("accounts") || changed.has("creds")) return "restart";
  if (changed.has("tls")) return "reload";
  return "none";
}
