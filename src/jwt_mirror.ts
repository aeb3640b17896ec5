/**
 * One pass of the JWT mirror (`NATS_JWT_MOUNT_DIR` -> `NATS_JWT_DIR`): reads the trust material from
 * the server config, checks every mounted JWT, plans, applies, and logs what happened in one line
 * per fact. Used before nats-server starts and after every change of the mount.
 */

import { type Trust, trustFrom } from "./account_jwt.ts";
import type { Logger } from "./log.ts";
import { applyMirrorPlan, readMount, readResolverDir } from "./mirror.ts";
import { planMirror } from "./mirror_plan.ts";
import { getKey, readServerConfig, trustMaterial } from "./server_config.ts";

export interface JwtChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface MirrorPassOptions {
  confPath: string;
  mountDir: string;
  resolverDir: string;
  log: Logger;
  env?: Record<string, string | undefined>;
}

/** The trust the mirror checks JWTs against, and the system account, from the server config. */
export interface ServerTrust {
  trust: Trust;
  systemAccount: string | undefined;
}

/**
 * Reads the operator keys and the system account from the server config.
 * @throws when the config cannot be read or its operator JWT is invalid (message says which).
 */
export function readServerTrust(
  confPath: string,
  env?: Record<string, string | undefined>,
): ServerTrust {
  const options = env ? { env } : {};
  const config = readServerConfig(confPath, options);
  const material = trustMaterial(config, confPath, options);
  const system = getKey(config.root, "system_account");
  return {
    trust: trustFrom(material.operatorJwts, material.trustedKeys),
    systemAccount: typeof system === "string" ? system : undefined,
  };
}

/**
 * Mirrors the mount into the resolver dir once.
 * @returns the accounts added, changed and removed (written or removed successfully).
 * @throws when the server config cannot be read (nothing is changed then).
 */
export async function mirrorOnce(options: MirrorPassOptions): Promise<JwtChanges> {
  const { log } = options;
  const { trust, systemAccount } = readServerTrust(options.confPath, options.env);
  if (trust.operatorKeys.size === 0 && trust.signingKeys.size === 0) {
    log.warn(
      "the server config names no trusted operator; no mounted JWT can be checked or mirrored",
      {
        conf: options.confPath,
      },
    );
  }
  const mount = await readMount(options.mountDir, trust);
  const resolverFiles = await readResolverDir(options.resolverDir);
  const plan = planMirror(mount, resolverFiles, systemAccount ? { systemAccount } : {});
  for (const rejected of plan.rejected) {
    log.error(`mounted JWT ${rejected.name} rejected: ${rejected.reason}`, {
      kept: rejected.keptPrevious ? "the previously mirrored version stays" : "not mirrored",
    });
  }
  if (plan.refusedRemoval) log.warn(plan.refusedRemoval, { mount: options.mountDir });
  if (plan.write.length === 0 && plan.remove.length === 0) {
    log.debug("JWT mirror: nothing to do", { unchanged: plan.unchanged.length });
    return { added: [], changed: [], removed: [] };
  }
  const result = await applyMirrorPlan(plan, options.resolverDir);
  for (const failure of result.failed) {
    log.error(`JWT mirror could not update ${failure.name}: ${failure.error}`, {
      hint: "it is retried on the next change or re-scan",
    });
  }
  const done = new Set(
    [...result.written, ...result.removed].map((name) => name.replace(/\.jwt$/, "")),
  );
  const changes: JwtChanges = {
    added: plan.added.filter((a) => done.has(a)),
    changed: plan.changed.filter((a) => done.has(a)),
    removed: plan.removed.filter((a) => done.has(a)),
  };
  log.info("JWT mirror applied", {
    added: changes.added.length,
    changed: changes.changed.length,
    removed: changes.removed.length,
    unchanged: plan.unchanged.length,
    failed: result.failed.length,
  });
  return changes;
}
