/**
 * The JWT mirror (`NATS_JWT_MOUNT_DIR` -> `NATS_JWT_DIR`) as the pipeline runs it: takes the mount
 * files a scan has read, checks them against the operator named in the server config, plans, applies,
 * and logs what happened in one line per fact.
 *
 * Checks are cached by file name, content and trust, so a change of one account among 10,000 costs
 * one signature check and one write, not 10,000.
 */

import { type Trust, trustFrom } from "./account_jwt.ts";
import type { FileGuard } from "./bounded_read.ts";
import type { Logger } from "./log.ts";
import { applyMirrorPlan, checkMountFile, type MountFile, readResolverDir } from "./mirror.ts";
import { type MountEntry, planMirror } from "./mirror_plan.ts";
import { getKey, readServerConfig, trustMaterial } from "./server_config.ts";

export interface JwtChanges {
  added: string[];
  changed: string[];
  removed: string[];
  /** The checked JWT written for each added or changed account (what to push). */
  jwts: Map<string, string>;
}

/** The trust the mirror checks JWTs against, and the system account, from the server config. */
export interface ServerTrust {
  trust: Trust;
  systemAccount: string | undefined;
}

/**
 * Reads the operator keys and the system account from the server config (through `files` when
 * given: the config, its includes and the operator JWT files are files from watched paths).
 * @throws when the config cannot be read or its operator JWT is invalid (the message says which).
 */
export function readServerTrust(
  confPath: string,
  options: { env?: Record<string, string | undefined>; files?: FileGuard } = {},
): ServerTrust {
  const { env, files } = options;
  const readOptions = {
    ...(env ? { env } : {}),
    ...(files ? { readTextFile: (path: string) => files.readText(path) } : {}),
  };
  const config = readServerConfig(confPath, readOptions);
  const material = trustMaterial(config, confPath, readOptions);
  const system = getKey(config.root, "system_account");
  return {
    trust: trustFrom(material.operatorJwts, material.trustedKeys),
    systemAccount: typeof system === "string" ? system : undefined,
  };
}

export interface JwtMirrorOptions {
  confPath: string;
  mountDir: string;
  resolverDir: string;
  log: Logger;
  /** Reads the server config and the resolver dir (the mount is read by the scan). */
  files?: FileGuard;
  /**
   * Runs before the files of removed accounts are deleted (the live account delete): nats-server
   * closes a deleted account's connections only while its JWT file still exists.
   */
  beforeRemove?: (accounts: string[]) => Promise<void>;
}

export interface MirrorOutcome {
  changes: JwtChanges;
  /** Files that could not be written or removed; the next pass retries them. */
  failed: number;
  /** JWTs refused only for their validity window (`nbf` ahead, `exp` past): time may change that. */
  timeRejected: number;
}

export class JwtMirror {
  readonly #options: JwtMirrorOptions;
  readonly #checked = new Map<string, { text: string; trustKey: string; entry: MountEntry }>();

  constructor(options: JwtMirrorOptions) {
    this.#options = options;
  }

  /**
   * Mirrors the mount once. `files` are the mount's files as a scan read them (undefined: the
   * mount does not exist; see {@linkcode readMountFiles}).
   * @returns the accounts added, changed and removed (only those written or removed successfully).
   * @throws when the server config cannot be read (nothing is changed then).
   */
  async apply(files: MountFile[] | undefined): Promise<MirrorOutcome> {
    const { log, mountDir, resolverDir, confPath, files: guard } = this.#options;
    const readOptions = guard ? { files: guard } : {};
    const { trust, systemAccount } = readServerTrust(confPath, readOptions);
    if (trust.operatorKeys.size === 0 && trust.signingKeys.size === 0 && (files ?? []).length > 0) {
      log.warn("the server config names no trusted operator; mounted JWTs cannot be mirrored", {
        conf: confPath,
      });
    }
    const entries = this.#check(files ?? [], trust);
    const resolverFiles = readResolverDir(resolverDir, readOptions);
    const plan = planMirror(entries, resolverFiles, systemAccount ? { systemAccount } : {});
    // The file guard has said once why it did not read these; a line on every pass would not help.
    const guarded = new Set(
      (files ?? []).filter((f) => "rejected" in f && f.rejected).map((f) => f.name),
    );
    for (const rejected of plan.rejected) {
      if (guarded.has(rejected.name)) continue;
      log.error(`mounted JWT ${rejected.name} rejected: ${rejected.reason}`, {
        kept: rejected.keptPrevious ? "the previously mirrored version" : "nothing (not mirrored)",
      });
    }
    for (const kept of plan.newerInResolver) {
      log.warn(`mounted JWT ${kept.name} is older than the server's copy; keeping the newer one`, {
        mount_iat: kept.mountIat,
        resolver_iat: kept.resolverIat,
        hint: "a cluster peer pushed a newer JWT; this node's mount has not caught up yet",
      });
    }
    if (plan.refusedRemoval) {
      // Loud only when the refusal protects something: account JWTs an empty mount would remove.
      const protectedFiles = [...resolverFiles.keys()].filter((name) =>
        name !== `${systemAccount}.jwt`
      );
      const level = protectedFiles.length > 0 ? "warn" : "debug";
      log[level](plan.refusedRemoval, { mount: mountDir, kept: protectedFiles.length });
    }
    const timeRejected = entries.filter((e) => !e.check.ok && e.check.timeDependent).length;
    if (plan.write.length === 0 && plan.remove.length === 0) {
      log.debug("JWT mirror: nothing to write", { unchanged: plan.unchanged.length });
      const changes = { added: [], changed: [], removed: [], jwts: new Map() };
      return { changes, failed: 0, timeRejected };
    }
    if (plan.removed.length > 0 && this.#options.beforeRemove) {
      await this.#options.beforeRemove(plan.removed).catch((error) =>
        log.error(`live delete of removed accounts failed: ${(error as Error).message}`)
      );
    }
    const result = await applyMirrorPlan(plan, resolverDir);
    for (const failure of result.failed) {
      log.error(`JWT mirror could not update ${failure.name}: ${failure.error}`, {
        hint: "retried on the next change or re-scan",
      });
    }
    const done = new Set([...result.written, ...result.removed].map(accountOf));
    const changes: JwtChanges = {
      added: plan.added.filter((a) => done.has(a)),
      changed: plan.changed.filter((a) => done.has(a)),
      removed: plan.removed.filter((a) => done.has(a)),
      jwts: new Map(
        plan.write.filter((w) => done.has(accountOf(w.name))).map((
          w,
        ) => [accountOf(w.name), w.jwt]),
      ),
    };
    log.info("JWT mirror applied", {
      added: changes.added.length,
      changed: changes.changed.length,
      removed: changes.removed.length,
      unchanged: plan.unchanged.length,
      failed: result.failed.length,
    });
    return { changes, failed: result.failed.length, timeRejected };
  }

  /** Checks each file, reusing the result for a file whose content and trust are unchanged. */
  #check(files: MountFile[], trust: Trust): MountEntry[] {
    const trustKey = [...trust.operatorKeys, "|", ...trust.signingKeys].join(",");
    const seen = new Set<string>();
    const entries = files.map((file) => {
      seen.add(file.name);
      const text = "text" in file ? file.text : undefined;
      const cached = this.#checked.get(file.name);
      if (text !== undefined && cached?.text === text && cached.trustKey === trustKey) {
        return cached.entry;
      }
      const entry = checkMountFile(file, trust);
      // A verdict that depends on the clock (exp/nbf) is checked again on every pass.
      if (text !== undefined && !entry.check.timeDependent) {
        this.#checked.set(file.name, { text, trustKey, entry });
      } else {
        this.#checked.delete(file.name);
      }
      return entry;
    });
    for (const name of this.#checked.keys()) if (!seen.has(name)) this.#checked.delete(name);
    return entries;
  }
}

function accountOf(fileName: string): string {
  return fileName.replace(/\.jwt$/, "");
}
