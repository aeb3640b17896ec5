/**
 * The jobs that need a system-account connection: pushing account JWTs to the server(s) with
 * `$SYS.REQ.CLAIMS.UPDATE`, deleting removed accounts live with `$SYS.REQ.CLAIMS.DELETE`, and the
 * JetStream purge reconcile. They run after start (once connected: push everything once, so
 * cluster peers converge, then reconcile) and after every JWT change the pipeline mirrored.
 * Without `NATS_SYS_USER_CRED_PATH` they are all off, said once at start.
 */

import { AdminConnection } from "./connection.ts";
import { verifyAdminConnection } from "./identity.ts";
import { chooseClientTls } from "./tls.ts";
import { FileGuard } from "../shared/bounded_read.ts";
import { answeringServerCount, deleteAccounts, firstError, pushClaims } from "./claims.ts";
import type { JwtChanges } from "../mirror/mirror.ts";
import type { Logger } from "../shared/log.ts";
import { readResolverFile } from "../mirror/files.ts";
import { getMonitorJson } from "../shared/monitor.ts";
import { PurgeReconciler } from "../purge/reconciler.ts";
import type { ServerView } from "../config/server_view.ts";
import { Report } from "../report/report.ts";
import type { Settings, TlsFiles } from "../cli/settings.ts";
import type { Companion } from "../server/companion.ts";
import { findStoreDir } from "./store_dir.ts";
import { accountOfFileName, jwtFileName, listJwtNames } from "../jwt/jwt_files.ts";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { pause } from "../shared/timing.ts";

/** The admin connection's name, as the server's `/connz` shows it. */
const ADMIN_CONNECTION_NAME = "pot-nats";
/** Longest a stop waits for the server to drop the closed admin connection. */
const SERVER_FORGETS_MS = 500;
/** How long a failed push waits before it is tried again. */
const PUSH_RETRY_MS = 15_000;
/**
 * How often a push collects replies until quiet, to learn how many servers answer; in between,
 * a push ends as soon as that many servers have answered each request.
 */
const FULL_COLLECT_EVERY_MS = 30_000;

type Connection = Awaited<ReturnType<AdminConnection["ready"]>>;

/**
 * A coalescing work queue: the pipeline hands over changes and returns at once (admin work must
 * never hold up a reload, e.g. while the creds are wrong); one worker drains the queue once the
 * admin connection is up, so runs never overlap.
 */
export class AdminJobs implements Companion {
  readonly #settings: Settings;
  readonly #log: Logger;
  readonly #files: FileGuard;
  #connection: AdminConnection | undefined;
  #reconciler: PurgeReconciler | undefined;
  readonly #warnedStaysLoaded = new Set<string>();
  readonly #closing = new AbortController();
  /** account -> the JWT to push (the mirror's checked copy). */
  readonly #toPush = new Map<string, string>();
  /** Accounts whose push failed, pushed again after PUSH_RETRY_MS. */
  readonly #toRetry = new Set<string>();
  #reconcileWanted = false;
  #pushAllWanted = false;
  #worker: Promise<void> | undefined;
  /** Servers that answered the last full collection, and when that was. */
  #answeringServers = 0;
  #lastFullCollect = -Infinity;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  readonly #onDrift: ((accounts: string[]) => void) | undefined;
  readonly #config: () => ServerView;
  readonly #report: Report;
  /** When the earliest change waiting to be pushed was first noticed (its reaction time). */
  #detectedAt: number | undefined;
  readonly #pushRetryMs: number;

  /**
   * @param options.config the server config as last read (the pipeline reads it once per pass);
   *   throws when it could not be read
   * @param options.files reads the creds, the signing key and the resolver dir
   * @param options.onDrift called when a purge run finds mounted accounts without a JWT in the
   *   resolver dir (the pipeline then writes them back)
   * @param options.report where pushes, deletes, purges and the connection's state are reported
   * @param options.pushRetryMs how long a failed push waits before it is tried again (default
   *   15 s; tests shorten it)
   */
  constructor(
    settings: Settings,
    log: Logger,
    options: {
      config: () => ServerView;
      files?: FileGuard;
      onDrift?: (accounts: string[]) => void;
      report?: Report;
      pushRetryMs?: number;
    },
  ) {
    this.#settings = settings;
    this.#log = log;
    this.#config = options.config;
    this.#report = options.report ?? Report.unread();
    this.#files = options.files ?? new FileGuard({ maxBytes: settings.maxFileBytes, log });
    this.#onDrift = options.onDrift;
    this.#pushRetryMs = options.pushRetryMs ?? PUSH_RETRY_MS;
  }

  /** Says what is off, or queues the first full push and reconcile. */
  start(): void {
    const settings = this.#settings;
    if (!settings.sysUserCredPath) {
      this.#log.info(
        "NATS_SYS_USER_CRED_PATH is not set: claims push, live account delete and JetStream purge are off",
      );
      return;
    }
    const files = this.#files;
    const { metrics, status } = this.#report;
    status.adminState("connecting");
    const connection = AdminConnection.start({
      onUsable: (usable) => {
        metrics.adminConnectionUp.set(usable ? 1 : 0);
        status.adminState(usable ? "up" : "down");
      },
      onProblem: (problem) => status.adminProblem(problem),
      url: settings.clientUrl,
      credsPath: settings.sysUserCredPath,
      readFile: (path) => files.readBytes(path),
      name: ADMIN_CONNECTION_NAME,
      log: this.#log,
      // Only a system account user on our own child may push and purge.
      verify: (nc, signal) =>
        verifyAdminConnection(nc, {
          config: this.#config,
          monitorPort: settings.monitorPort,
          signal,
        }),
      ...tlsOption(settings, this.#config),
    });
    this.#connection = connection;
    this.#reconciler = new PurgeReconciler({
      graceMs: settings.purgeGraceSeconds * 1000,
      max: settings.purgeMax,
      dryRun: settings.purgeDryRun,
      resolverDir: settings.jwtDir,
      mountDir: settings.jwtMountDir,
      ...(this.#onDrift ? { onDrift: this.#onDrift } : {}),
      systemAccount: () => this.#config().systemAccount,
      findStoreDir: async () =>
        (await findStoreDir({
          setting: settings.jetstreamStoreDir,
          monitorPort: settings.monitorPort,
          nc: connection.connection,
          config: this.#config,
          log: this.#log,
        })).dir,
      connection: () => connection.ready(this.#closing.signal),
      log: this.#log,
      report: this.#report,
    });
    if (!this.#settings.operatorSigningKeyPath) {
      this.#log.info(
        "POT_NATS_OPERATOR_SIGNING_KEY is not set: removed accounts stay loaded until nats-server restarts",
      );
    }
    this.#pushAllWanted = true;
    this.#reconcileWanted = true;
    this.#kick();
  }

  /** Queues what a mirror pass changed; returns at once. */
  onJwtChanges(changes: JwtChanges): void {
    if (this.#closing.signal.aborted) return;
    if (!this.#connection) {
      // Nothing to push: the mirror's write was the whole of the change.
      this.#observeReaction(changes.detectedAt);
      if (changes.changed.length + changes.removed.length > 0) {
        this.#log.warn(
          "changed or removed account JWTs were mirrored but cannot be applied live: nats-server " +
            "applies them only when pushed or after a restart",
          { hint: "set NATS_SYS_USER_CRED_PATH so pot-nats pushes them" },
        );
      }
      return;
    }
    for (const [account, jwt] of changes.jwts) this.#toPush.set(account, jwt);
    for (const account of changes.removed) this.#toPush.delete(account);
    if (changes.detectedAt !== undefined) {
      this.#detectedAt = Math.min(this.#detectedAt ?? Infinity, changes.detectedAt);
    }
    this.#reconcileWanted = true;
    this.#kick();
  }

  /** A JWT change is in force: its reaction time, from its first event. */
  #observeReaction(detectedAt: number | undefined): void {
    if (detectedAt === undefined) return;
    this.#report.metrics.reactionSeconds.observe(
      { cause: "jwt" },
      (Date.now() - detectedAt) / 1000,
    );
  }

  /**
   * Deletes removed accounts live with `$SYS.REQ.CLAIMS.DELETE` (their connections close), before
   * the mirror removes their JWT files. Without a signing key, or while the admin connection is
   * down, it says once per account that the account stays loaded until nats-server restarts, and
   * returns at once: a removal never waits on the connection.
   */
  async deleteRemoved(accounts: string[]): Promise<void> {
    const keyPath = this.#settings.operatorSigningKeyPath;
    const nc = this.#connection?.connection;
    if (!keyPath || !nc || nc.isClosed()) {
      const hint = !keyPath
        ? "set POT_NATS_OPERATOR_SIGNING_KEY to delete removed accounts live"
        : "the admin connection is down; see its log lines";
      for (const account of accounts) {
        if (this.#warnedStaysLoaded.has(account)) continue;
        this.#warnedStaysLoaded.add(account);
        this.#log.warn(
          `account ${account} left the mount; it stays loaded until nats-server restarts`,
          { hint },
        );
      }
      return;
    }
    const seed = this.#files.readText(keyPath).trim();
    const results = await deleteAccounts(nc, accounts, seed, { log: this.#log, attempts: 2 });
    const deleted = results.filter((result) => result.ok).length;
    this.#report.metrics.claimsDeletes.inc({ result: "ok" }, deleted);
    this.#report.metrics.claimsDeletes.inc({ result: "failed" }, results.length - deleted);
  }

  /**
   * A stop has begun: close the connection before nats-server is signalled, and (with the monitor
   * on) wait until the server no longer lists it: lame-duck mode counts the clients it sees when
   * it starts, and a closing connection still counts for a few milliseconds.
   */
  async beforeStop(): Promise<void> {
    this.#closing.abort();
    if (!this.#connection) return;
    await this.#connection.close();
    const port = this.#settings.monitorPort;
    if (port === 0) return;
    const deadline = Date.now() + SERVER_FORGETS_MS;
    while (Date.now() < deadline && await serverListsConnection(port, ADMIN_CONNECTION_NAME)) {
      await pause(5);
    }
  }

  /** Stops the jobs; closing the connection first makes in-flight requests fail at once. */
  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#reconciler?.close();
    await this.#connection?.close();
    // The worker logs its own failures (see #kick); here only its end matters.
    await this.#worker?.catch(() => {});
  }

  #pending(): boolean {
    return this.#pushAllWanted || this.#reconcileWanted || this.#toPush.size > 0;
  }

  #kick(): void {
    if (this.#worker || this.#closing.signal.aborted) return;
    this.#worker = this.#drain()
      .catch((error) => {
        if (!this.#closing.signal.aborted) {
          this.#log.error(`claims push or purge reconcile failed: ${(error as Error).message}`);
        }
      })
      .finally(() => {
        this.#worker = undefined;
        if (this.#pending()) this.#kick();
      });
  }

  async #drain(): Promise<void> {
    while (this.#pending() && !this.#closing.signal.aborted) {
      // Asked every round: the connection may have been replaced (new creds) meanwhile.
      const nc = await this.#connection!.ready(this.#closing.signal);
      const push = this.#pushAllWanted ? undefined : new Map(this.#toPush);
      const reconcile = this.#reconcileWanted;
      const detectedAt = this.#detectedAt;
      this.#pushAllWanted = false;
      this.#reconcileWanted = false;
      this.#detectedAt = undefined;
      this.#toPush.clear();
      if (push === undefined) await this.#pushEveryMirroredJwt(nc);
      else await this.#push(nc, [...push].map(([account, jwt]) => ({ account, jwt })));
      this.#observeReaction(detectedAt);
      if (reconcile) await this.#reconciler?.run();
    }
  }

  /**
   * Pushes every JWT in the resolver dir (after start), read as the push takes them, a chunk at a
   * time: 100,000 JWTs are never held at once. nats-server rewrites these files in place (not
   * atomically) when it stores a push, so an empty or unreadable read is tried again later, not
   * pushed and not dropped. A file not named after an account key is no account's JWT (nats-server
   * would refuse it): left alone.
   */
  async #pushEveryMirroredJwt(nc: Connection): Promise<void> {
    const dir = this.#settings.jwtDir;
    const later: string[] = [];
    let error: unknown; // the first read that failed, said in the warning below
    const files = this.#files;
    function* everyJwt(): Generator<{ account: string; jwt: string }> {
      for (const name of listJwtNames(dir) ?? []) {
        const account = accountOfFileName(name);
        if (!isAccountPublicKey(account)) continue;
        let jwt: string | undefined;
        try {
          jwt = readResolverFile(dir, name, { files })?.trim();
        } catch (readError) {
          error ??= readError;
          jwt = ""; // pushed later, like a file caught mid-write
        }
        if (jwt) yield { account, jwt };
        else if (jwt === "") later.push(account);
      }
    }
    await this.#push(nc, everyJwt());
    if (later.length > 0) {
      this.#log.warn("some resolver JWT files were empty or unreadable; pushing them later", {
        accounts: later.length,
        ...(error !== undefined ? { error } : {}),
      });
      this.#retryLater(later);
    }
  }

  async #push(nc: Connection, jwts: Iterable<{ account: string; jwt: string }>): Promise<void> {
    const full = this.#answeringServers === 0 ||
      performance.now() - this.#lastFullCollect > FULL_COLLECT_EVERY_MS;
    const results = await pushClaims(nc, jwts, {
      log: this.#log,
      ...(full ? {} : { expectedReplies: this.#answeringServers }),
    });
    if (results.length === 0) {
      this.#report.status.pushDone({ accounts: 0, failed: 0 });
      return;
    }
    if (full) {
      this.#answeringServers = answeringServerCount(results);
      this.#lastFullCollect = performance.now();
    }
    const failed = results.filter((r) => !r.ok).map((r) => r.account);
    const { metrics, status } = this.#report;
    metrics.claimsPushes.inc({ result: "ok" }, results.length - failed.length);
    metrics.claimsPushes.inc({ result: "failed" }, failed.length);
    status.pushDone({
      accounts: results.length,
      failed: failed.length,
      error: firstError(results),
    });
    if (failed.length > 0 && !this.#closing.signal.aborted) {
      this.#log.info(
        `pushing ${failed.length} account JWT${failed.length === 1 ? "" : "s"} again in ` +
          `${this.#pushRetryMs / 1000} s`,
        { reason: firstError(results) },
      );
      this.#retryLater(failed);
    }
  }

  /** Pushes these accounts again later, with what the resolver dir holds for them then. */
  #retryLater(accounts: string[]): void {
    for (const account of accounts) this.#toRetry.add(account);
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const retry = [...this.#toRetry];
      this.#toRetry.clear();
      const unreadable: string[] = [];
      let error: unknown;
      for (const account of retry) {
        if (this.#toPush.has(account)) continue;
        let jwt: string | undefined;
        try {
          jwt = readResolverFile(this.#settings.jwtDir, jwtFileName(account), {
            files: this.#files,
          })?.trim();
        } catch (readError) {
          unreadable.push(account);
          error ??= readError;
        }
        if (jwt) this.#toPush.set(account, jwt);
      }
      // One line for the retry, however many files could not be read (not one per account).
      if (unreadable.length > 0) {
        this.#log.warn("cannot read resolver files for a push retry", {
          accounts: unreadable.length,
          first: unreadable[0],
          error,
        });
      }
      this.#kick();
    }, this.#pushRetryMs);
  }
}

/** Whether `/connz` on the monitor port lists a connection named `name`; false when unsure. */
async function serverListsConnection(port: number, name: string): Promise<boolean> {
  try {
    const connz = await getMonitorJson<{ connections?: { name?: string }[] }>(
      port,
      "connz?limit=1024",
      { timeoutMs: 200 },
    );
    return (connz.connections ?? []).some((connection) => connection.name === name);
  } catch {
    return false; // the monitor is not answering: nothing to wait for
  }
}

/** TLS for the admin connection when the URL or the server config asks for it. */
function tlsOption(
  settings: Settings,
  config: () => ServerView,
): { tls?: TlsFiles } {
  let serverRequiresTls = false;
  try {
    serverRequiresTls = config().tlsRequired;
  } catch {
    // An unreadable config is reported by nats-server itself; the URL alone decides then.
  }
  const tls = chooseClientTls({
    clientUrl: settings.clientUrl,
    sslDir: settings.sslDir,
    settings: settings.clientTls,
    serverRequiresTls,
    exists: (path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false; // a default file that is missing or unreadable is simply not used
      }
    },
  });
  return tls ? { tls } : {};
}
