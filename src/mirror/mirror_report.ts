/**
 * What the JWT mirror says about its runs: the lasting facts of a plan (a rejected file, an older
 * mounted JWT kept out, a refused removal) logged once each, not on every pass; one warning per
 * repaired account; the run's state for the metrics and `/status`; and a daily warning per account
 * whose JWT expires soon.
 *
 * @module
 */

import { isoFromSeconds } from "../shared/iso_time.ts";
import { join } from "node:path";
import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { accountOfFileName } from "../jwt/jwt_files.ts";
import { rejectionReason } from "../report/metrics.ts";
import type { Report } from "../report/report.ts";
import { type Logger, show } from "../shared/log.ts";
import { pathExists } from "../shared/path_exists.ts";
import type { JwtChanges } from "./mirror.ts";
import type { MirrorPlan, MountEntry, ResolverCopy } from "./plan.ts";

export interface MirrorReporterOptions {
  mountDir: string;
  resolverDir: string;
  log: Logger;
  report: Report;
  /** `POT_NATS_EXPIRY_WARN_DAYS` (default 7). */
  expiryWarnDays?: number | undefined;
  /** Clock in ms. */
  now: () => number;
}

export class MirrorReporter {
  readonly #options: MirrorReporterOptions;
  /** What was last logged about a lasting fact (key -> text), so it is logged once. */
  readonly #reported = new Map<string, string>();
  /** Account -> when its coming expiry was last warned about. */
  readonly #expiryWarned = new Map<string, number>();

  constructor(options: MirrorReporterOptions) {
    this.#options = options;
  }

  /** Warns, once, that the config names no operator whose JWTs could be mirrored. */
  noTrust(confPath: string): void {
    this.#reportOnce(
      "no-trust",
      "",
      () =>
        this.#options.log.warn(
          "the server config names no trusted operator; mounted JWTs cannot be mirrored",
          { conf: confPath },
        ),
    );
  }

  /** Logs the plan's lasting facts (rejections, older mounted JWTs, a refused removal) once. */
  plan(
    plan: MirrorPlan,
    view: ReadonlyMap<string, ResolverCopy>,
    context: {
      systemAccount: string | undefined;
      guarded: ReadonlySet<string>;
      entries: readonly MountEntry[];
    },
  ): void {
    const { log, mountDir } = this.#options;
    const { systemAccount, guarded } = context;
    const current = new Set<string>();
    const digests = plan.rejected.length === 0
      ? new Map<string, string | undefined>()
      : new Map(context.entries.map((e) => [e.name, e.digest]));
    for (const rejected of plan.rejected) {
      const key = `rejected:${rejected.name}`;
      current.add(key);
      const content = digests.get(rejected.name) ?? "";
      this.#reportOnce(key, `${rejected.reason}\0${rejected.keptPrevious}\0${content}`, () => {
        this.#options.report.metrics.jwtRejections.inc({
          reason: rejectionReason(rejected.reason),
        });
        if (guarded.has(rejected.name)) return;
        log.error(`mounted JWT ${show(rejected.name)} rejected: ${rejected.reason}`, {
          kept: rejected.keptPrevious
            ? "the previously mirrored version"
            : "nothing (not mirrored)",
        });
      });
    }
    for (const kept of plan.newerInResolver) {
      const key = `older:${kept.name}`;
      current.add(key);
      this.#reportOnce(key, `${kept.mountIat}:${kept.resolverIat}`, () =>
        log.warn(
          `mounted JWT ${show(kept.name)} is older than the server's copy; keeping the newer one`,
          {
            mount_iat: kept.mountIat,
            resolver_iat: kept.resolverIat,
            hint: "a cluster peer pushed a newer JWT; this node's mount has not caught up yet",
          },
        ));
    }
    if (plan.refusedRemoval) {
      current.add("removal");
      // Loud only when the refusal protects something: account JWTs the pass would remove.
      const protectedFiles = [...view.keys()].filter((name) => name !== `${systemAccount}.jwt`);
      const level = protectedFiles.length > 0 ? "warn" : "debug";
      this.#reportOnce(
        "removal",
        plan.refusedRemoval,
        () => log[level](plan.refusedRemoval!, { mount: mountDir, kept: protectedFiles.length }),
      );
    }
    // A fact that no longer holds is forgotten, so it is logged again should it return.
    for (const key of this.#reported.keys()) {
      if (key !== "no-trust" && !current.has(key)) this.#reported.delete(key);
    }
  }

  /** One warning per repaired account: what the resolver dir held, and what happens now. */
  async repairs(plan: MirrorPlan, view: ReadonlyMap<string, ResolverCopy>): Promise<void> {
    for (const { account, found } of plan.repaired) {
      const name = `${account}.jwt`;
      const fields = { account, resolver: this.#options.resolverDir };
      if (found === "different") {
        this.#options.log.warn(
          `resolver drift: the resolver dir held a different JWT for account ${account} than the ` +
            "mount; writing the mounted one back and pushing it",
          { ...fields, resolver_iat: view.get(name)?.iat ?? "unreadable" },
        );
      } else if (await pathExists(join(this.#options.resolverDir, `${name}.deleted`))) {
        this.#options.log.warn(
          `resolver drift: account ${account} was deleted on the server (${name}.deleted, as a ` +
            "$SYS.REQ.CLAIMS.DELETE leaves it) but is still in the mount; writing its JWT back " +
            "and pushing it",
          {
            ...fields,
            hint: "nats-server keeps refusing the account's users until it restarts or the " +
              "account gets a newer JWT: it ignores a re-push of the JWT it deleted",
          },
        );
      } else {
        this.#options.log.warn(
          `resolver drift: the JWT of account ${account} was missing from the resolver dir ` +
            "although it is in the mount; writing it back and pushing it",
          fields,
        );
      }
    }
  }

  /** The run's state for the metrics and `/status`; warns daily about JWTs that expire soon. */
  run(
    plan: MirrorPlan,
    view: ReadonlyMap<string, ResolverCopy>,
    changes: JwtChanges,
    entries: MountEntry[],
  ): void {
    const { metrics, status } = this.#options.report;
    // A valid mounted JWT's name was found to be an account key already: only the others are
    // looked at (100,000 key checks a pass are 90 ms).
    const valid = new Set(entries.filter((e) => e.check.ok).map((e) => e.name));
    let before = 0;
    for (const name of view.keys()) {
      if (valid.has(name) || isAccountPublicKey(accountOfFileName(name))) before++;
    }
    const accounts = before + changes.added.length - changes.removed.length;
    const expiry = this.#expiry(entries);
    metrics.jwtAccounts.set(accounts);
    metrics.jwtRejectedFiles.set(plan.rejected.length);
    metrics.jwtRepairs.inc(changes.repaired.length);
    metrics.jwtNextExpiry.set(expiry.next ?? 0);
    metrics.jwtExpiringAccounts.set(expiry.expiring.length);
    status.mirrorRun({
      accounts,
      rejected: plan.rejected.map(({ name, reason }) => ({ file: name, reason })),
      repaired: changes.repaired.length,
      nextExpiry: expiry.next,
      expiring: expiry.expiring,
    });
  }

  /**
   * The earliest expiry among the mounted valid JWTs, and the accounts expiring within the warning
   * window, each warned about once a day.
   */
  #expiry(entries: MountEntry[]): {
    next: number | undefined;
    expiring: { account: string; expires: string }[];
  } {
    const now = this.#options.now();
    const windowMs = (this.#options.expiryWarnDays ?? 7) * DAY_MS;
    let next: number | undefined;
    const expiring: { account: string; expires: string }[] = [];
    for (const { check } of entries) {
      if (!check.ok || check.claims.exp === undefined) continue;
      const exp = check.claims.exp;
      next = next === undefined ? exp : Math.min(next, exp);
      if (exp * 1000 - now > windowMs) continue;
      const account = check.claims.sub;
      const expires = isoFromSeconds(exp);
      expiring.push({ account, expires });
      const warned = this.#expiryWarned.get(account);
      if (warned === undefined || now - warned >= DAY_MS) {
        this.#expiryWarned.set(account, now);
        this.#options.log.warn(`the JWT of account ${account} expires at ${expires}`, {
          account,
          hint: "mount a renewed JWT for it before then; an expired JWT is not mirrored",
        });
      }
    }
    return { next, expiring };
  }

  /** Calls `log` unless the same text was last logged under `key`. */
  #reportOnce(key: string, text: string, log: () => void): void {
    if (this.#reported.get(key) === text) return;
    this.#reported.set(key, text);
    log();
  }
}

const DAY_MS = 86_400_000;
