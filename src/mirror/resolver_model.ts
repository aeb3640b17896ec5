/**
 * What the mirror knows of the resolver dir between drift checks, and which resolver files a run
 * must read. Reading the whole dir on every change cost 75-90 ms with 10,000 accounts; a change
 * of one account needs one file read.
 *
 * The model maps each file name to the digest of the content pot-nats last read there or wrote
 * there (nats-server stores a pushed JWT as it was pushed, so a push leaves the model right). It is
 * trusted only to spare reading files a run will not touch:
 *
 * - every file the plan may write (a mounted JWT the model does not vouch is already there) is
 *   read right before the decision, so the `iat` guard always compares with what the file holds
 *   now: a newer JWT a cluster peer pushed meanwhile is never overwritten;
 * - a run in which an account may be removed (one the model knows left the mount) reads the whole
 *   dir, so the removal guards count what is on disk, as they always did;
 * - a drift check (the periodic re-scan, a purge run that asks for one) reads the whole dir and
 *   replaces the model, which repairs what changed behind the supervisor's back;
 * - after a failed write or removal the model is dropped, and the next run reads everything.
 *
 * Pure; the reads are passed in.
 *
 * @module
 */

import { isAccountPublicKey } from "../jwt/account_jwt.ts";
import { accountOfFileName, isJwtFileName } from "../jwt/jwt_files.ts";
import { contentDigest } from "../shared/digest.ts";
import {
  type MirrorPlan,
  type MountEntry,
  planMirror,
  type PlanMirrorOptions,
  type ResolverCopy,
} from "./plan.ts";

/** File name -> digest of its content, as pot-nats last read or wrote it. */
export type ResolverModel = ReadonlyMap<string, string>;

/** Which resolver files a run reads: every one, or only `names`. */
export type ResolverReads =
  | { all: true; why: "drift check" | "no model" | "removal" }
  | { all: false; names: string[] };

/**
 * Which resolver files a run must read. `readAll`: a drift check.
 * @returns every file when there is no model or an account may be removed; else the mounted
 *   valid JWTs the model does not vouch are there (usually the one that changed)
 */
export function resolverReads(
  mount: readonly MountEntry[],
  model: ResolverModel | undefined,
  options: { readAll?: boolean; systemAccount?: string | undefined } = {},
): ResolverReads {
  if (options.readAll) return { all: true, why: "drift check" };
  if (model === undefined) return { all: true, why: "no model" };
  const mounted = new Set(mount.map((entry) => entry.name));
  for (const name of model.keys()) {
    if (!mounted.has(name) && removable(name, options.systemAccount)) {
      return { all: true, why: "removal" };
    }
  }
  const names = mount.filter(({ name, check, digest }) =>
    check.ok && (digest === undefined || model.get(name) !== digest)
  ).map((entry) => entry.name);
  return { all: false, names };
}

/**
 * The resolver dir as the plan sees it: the files read this run as read, and (unless every file
 * was read) the model's other files as `unread` copies.
 */
export function resolverView(
  model: ResolverModel | undefined,
  reads: ResolverReads,
  read: ReadonlyMap<string, ResolverCopy>,
): Map<string, ResolverCopy> {
  if (reads.all || model === undefined) return new Map(read);
  const view = new Map<string, ResolverCopy>();
  for (const [name, digest] of model) view.set(name, { digest, unread: true });
  for (const name of reads.names) {
    const copy = read.get(name);
    if (copy === undefined) view.delete(name);
    else view.set(name, copy);
  }
  return view;
}

/** Options of {@linkcode planRun}: the plan's, and how to read what it needs. */
export interface PlanRunOptions extends PlanMirrorOptions {
  /** A drift check: read every resolver file. */
  readAll?: boolean;
  /** Reads the named resolver files (`undefined`: every one), as {@linkcode ResolverCopy}s. */
  read: (names: readonly string[] | undefined) => ReadonlyMap<string, ResolverCopy>;
  /**
   * Gives a valid entry that may be written, and came without its JWT's text, its text (or, when
   * that cannot be had, a rejected entry in its place). Default: the entry as it is.
   */
  withText?: (entry: MountEntry) => MountEntry;
  /** Which files to read, when the caller worked it out already (to read them ahead). */
  reads?: ResolverReads;
}

/** A planned run: the plan, the mount and the resolver dir it was made on, what was read. */
export interface PlannedRun {
  plan: MirrorPlan;
  mount: MountEntry[];
  view: Map<string, ResolverCopy>;
  reads: ResolverReads;
}

/** Reads what the run must read (and only that), then plans on it. */
export function planRun(
  mount: MountEntry[],
  model: ResolverModel | undefined,
  options: PlanRunOptions,
): PlannedRun {
  const { read, readAll, withText, reads: known, ...planOptions } = options;
  const reads = known ??
    resolverReads(mount, model, { readAll, systemAccount: options.systemAccount });
  const view = resolverView(model, reads, read(reads.all ? undefined : reads.names));
  const complete = withText === undefined
    ? mount
    : mount.map((entry) =>
      entry.check.ok && entry.check.jwt === undefined &&
        view.get(entry.name)?.digest !== entry.digest
        ? withText(entry)
        : entry
    );
  return { plan: planMirror(complete, view, planOptions), mount: complete, view, reads };
}

/**
 * The model after a run: the resolver dir as the run saw it, with its writes and removals.
 * @returns undefined (not to be trusted: the next run reads everything) after a failed write or
 *   removal, or when the plan left a file alone for want of reading it
 */
export function nextModel(
  run: Pick<PlannedRun, "plan" | "view">,
  result: { written: readonly string[]; removed: readonly string[]; failed: readonly unknown[] },
): Map<string, string> | undefined {
  if (result.failed.length > 0 || run.plan.unread !== undefined) return undefined;
  const model = new Map<string, string>();
  for (const [name, copy] of run.view) model.set(name, copy.digest);
  const written = new Map(run.plan.write.map((w) => [w.name, w]));
  for (const name of result.written) {
    const write = written.get(name);
    if (write) model.set(name, write.digest ?? contentDigest(write.jwt));
  }
  for (const name of result.removed) model.delete(name);
  return model;
}

/** A resolver file the mirror would remove once its account left the mount. */
function removable(name: string, systemAccount: string | undefined): boolean {
  if (!isJwtFileName(name)) return false;
  const account = accountOfFileName(name);
  return isAccountPublicKey(account) && account !== systemAccount;
}
