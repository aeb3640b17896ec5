/**
 * Whether a new admin connection may be used: its user must belong to the system account (a user
 * of any other account connects just as well, and its pushes and purges then fail or time out),
 * and, where the monitor port is on, it must be on the supervisor's own child (a second server on
 * the same ports, or a `NATS_CLIENT_URL` that reaches another pod, would take pushes and purges
 * meant for this one).
 *
 * The decision is {@linkcode judgeAdminConnection}, a pure function of the facts; gathering them
 * is {@linkcode verifyAdminConnection}: `$SYS.REQ.USER.INFO` (nats-server 2.10 and later answer it
 * for any user: `data.account` is the user's account), the system account from the server config
 * (`system_account`), else from its one operator JWT (`nats.system_account`), else from the
 * child's `/varz`, and the child's `server_id` from its `/varz`.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { connectHost } from "../shared/host_port.ts";
import type { ServerView } from "../config/server_view.ts";
import { errorMessage } from "../shared/errors.ts";
import { getMonitorJson } from "../shared/monitor.ts";

export const USER_INFO_SUBJECT = "$SYS.REQ.USER.INFO";

/** What is known about a new admin connection and the server it should be on. */
export interface AdminConnectionFacts {
  /** The account of the connection's user, as `$SYS.REQ.USER.INFO` reports it. */
  userAccount?: string;
  /** The server's system account, and where that was read (for messages). */
  systemAccount?: { key: string; source: string };
  /** `server_id` from the INFO of the server the connection is on. */
  connectedServerId?: string;
  /** `server_id` of the supervised child from its `/varz`; unknown when the monitor is off. */
  childServerId?: string;
  /** Whether the child's monitor is on (only then can its server id be compared). */
  monitorOn: boolean;
  /** Why a fact could not be gathered, for the message when the decision needs it. */
  problems?: { userAccount?: string; childServerId?: string };
}

/**
 * `ok`, or why the connection must not be used: `account` (the creds are another account's user:
 * wait for new creds), `server` (another server than the child), `unknown` (a fact could not be
 * gathered: try again soon).
 */
export type AdminVerdict =
  | { ok: true }
  | { ok: false; problem: "account" | "server" | "unknown"; reason: string };

/** Decides whether a new admin connection may be used; see the module doc. */
export function judgeAdminConnection(facts: AdminConnectionFacts): AdminVerdict {
  const { userAccount, systemAccount, connectedServerId, childServerId } = facts;
  if (facts.monitorOn && childServerId !== undefined && connectedServerId !== childServerId) {
    return {
      ok: false,
      problem: "server",
      reason: `the admin connection reached nats-server ${connectedServerId ?? "(no id)"}, ` +
        `not the one this supervisor runs (${childServerId}, per its /varz): NATS_CLIENT_URL ` +
        `must reach this supervisor's own server`,
    };
  }
  if (userAccount === undefined) {
    return {
      ok: false,
      problem: "unknown",
      reason: `the server did not say which account the admin user belongs to (${
        facts.problems?.userAccount ?? "no answer"
      })`,
    };
  }
  if (systemAccount === undefined) {
    return {
      ok: false,
      problem: "unknown",
      reason: "cannot tell which account is the system account: set system_account in the " +
        "server config (or turn the monitor port on)",
    };
  }
  if (userAccount !== systemAccount.key) {
    return {
      ok: false,
      problem: "account",
      reason: `the creds belong to account ${userAccount}, not to the system account ` +
        `${systemAccount.key} (${systemAccount.source})`,
    };
  }
  if (facts.monitorOn && childServerId === undefined) {
    return {
      ok: false,
      problem: "unknown",
      reason: `cannot check that the admin connection is on this supervisor's own server: its ` +
        `/varz did not answer (${facts.problems?.childServerId ?? "no answer"})`,
    };
  }
  return { ok: true };
}

export interface VerifyAdminConnectionOptions {
  /** The server config as last read; throws when it could not be read. */
  config: () => ServerView;
  /** `NATS_MONITOR_PORT`; 0 leaves the server unchecked. */
  monitorPort: number;
  /** Arguments after `--` (they may move the monitor). */
  extraArgs?: readonly string[];
  /** Timeout of the user info request and of `/varz` (ms, default 2000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Gathers the facts about `nc` and judges them; never throws (what cannot be learnt makes the
 * verdict `unknown`).
 */
export async function verifyAdminConnection(
  nc: NatsConnection,
  options: VerifyAdminConnectionOptions,
): Promise<AdminVerdict> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const problems: NonNullable<AdminConnectionFacts["problems"]> = {};
  const [user, varz] = await Promise.all([
    requestUserAccount(nc, timeoutMs).catch((error) => {
      problems.userAccount = errorMessage(error);
      return undefined;
    }),
    options.monitorPort === 0 ? undefined : readVarz(options, timeoutMs).catch((error) => {
      problems.childServerId = errorMessage(error);
      return undefined;
    }),
  ]);
  const facts: AdminConnectionFacts = {
    monitorOn: options.monitorPort !== 0,
    problems,
  };
  if (user !== undefined) facts.userAccount = user;
  if (nc.info?.server_id) facts.connectedServerId = nc.info.server_id;
  if (typeof varz?.server_id === "string") facts.childServerId = varz.server_id;
  const systemAccount = configuredSystemAccount(options.config) ??
    (typeof varz?.system_account === "string"
      ? { key: varz.system_account, source: "the server's /varz" }
      : undefined);
  if (systemAccount) facts.systemAccount = systemAccount;
  return judgeAdminConnection(facts);
}

/** The account `$SYS.REQ.USER.INFO` names for the connection's user. */
async function requestUserAccount(nc: NatsConnection, timeoutMs: number): Promise<string> {
  const reply = await nc.request(USER_INFO_SUBJECT, "", { timeout: timeoutMs });
  const body = reply.json<{ data?: { account?: unknown }; error?: { description?: unknown } }>();
  if (typeof body.data?.account === "string") return body.data.account;
  throw new Error(`unexpected reply: ${reply.string().slice(0, 200)}`);
}

/**
 * The system account the config sets (`system_account`, also spelled `system`), else the one its
 * only operator JWT names, as nats-server decides it; undefined when neither says, or the config
 * cannot be read.
 */
function configuredSystemAccount(
  config: () => ServerView,
): { key: string; source: string } | undefined {
  try {
    return config().systemAccountSetting;
  } catch {
    return undefined; // an unreadable config: /varz, if on, still tells
  }
}

/** The child's `/varz`, on the host its monitor listens on. */
async function readVarz(
  options: VerifyAdminConnectionOptions,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  let host = "127.0.0.1";
  let port = options.monitorPort;
  try {
    const monitor = options.config().listenAddresses({
      monitorPort: options.monitorPort,
      extraArgs: options.extraArgs ?? [],
    }).find((address) => address.role === "monitor");
    if (monitor) {
      host = connectHost(monitor.host);
      port = monitor.port;
    }
  } catch {
    // An unreadable config: the loopback address is where a default monitor listens.
  }
  return await getMonitorJson(port, "varz", {
    host,
    timeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
