/**
 * Decides which accounts' JetStream data may be purged.
 *
 * An account is a candidate when its directory under `<store_dir>/jetstream/` holds data but the
 * account has no `<account>.jwt` in the mount (the truth) and none in the resolver dir (what the
 * server serves): either alone is not enough, because a resolver file can go missing behind the
 * supervisor's back (deleted by hand, or by a `$SYS.REQ.CLAIMS.DELETE` from a peer or an admin tool)
 * while the account is still meant to exist. Purging is unrecoverable, so a candidate is purged only
 * after it has stayed a candidate for a grace period, and the whole run is refused (nothing purged,
 * with a reason for the operator) whenever the picture looks like a fault rather than a removal: an
 * empty resolver dir, an empty or unreadable mount, or more accounts due at once than the limit
 * allows.
 *
 * This module is pure: it reads nothing and deletes nothing. The caller persists `absentSince`
 * between runs and carries out `purge`.
 *
 * @module
 */

/** Everything {@linkcode planPurge} decides from. */
export interface PurgeInputs {
  /** Names of the subdirectories of `<store_dir>/jetstream/`. */
  storeDirNames: readonly string[];
  /** Public keys of the accounts that have a `<pub>.jwt` file in the resolver dir, valid or not. */
  resolverAccounts: ReadonlySet<string>;
  /**
   * Public keys of the accounts that have a `<pub>.jwt` file in the mount, valid or not; undefined
   * when the mount could not be listed (then nothing is purged).
   */
  mountAccounts: ReadonlySet<string> | undefined;
  /** Public key of the system account; it is never purged. */
  systemAccount?: string;
  /** From the previous run's plan: account -> ms timestamp when it was first seen as a candidate. */
  absentSince: ReadonlyMap<string, number>;
  /** Current time in ms. */
  now: number;
  /** How long (ms) an account must stay a candidate before it is due. 0 means at once. */
  graceMs: number;
  /** Most accounts one run may purge; `undefined` means {@linkcode defaultPurgeMax}. */
  max?: number;
  /** Compute the plan but purge nothing: what would go is listed in `wouldPurge`. */
  dryRun: boolean;
  /** Whether a directory name is a valid account public key. */
  isAccountKey: (name: string) => boolean;
}

/** The decision of one run. All account lists are sorted. */
export interface PurgePlan {
  /** Accounts to purge now. Empty on a dry run or a refused run. */
  purge: string[];
  /** On a dry run, the accounts that would be purged; otherwise empty. */
  wouldPurge: string[];
  /** Candidates whose grace period is still running. */
  waiting: { account: string; dueInMs: number }[];
  /** Directory names that are not account public keys (`_js_`, `$G`, ...), left alone. */
  ignored: string[];
  /** Set when the run was refused: why, and what the operator can do. Log it loudly. */
  refused?: string;
  /** State to pass back as `absentSince` on the next run. */
  absentSince: Map<string, number>;
  /** Most accounts this run was allowed to purge. */
  limit: number;
}

/** The name of the setting that overrides the purge limit; quoted in refusal reasons. */
export const PURGE_MAX_SETTING = "POT_NATS_PURGE_MAX";

/**
 * The default for the most accounts one run may purge: half of the accounts that have JetStream
 * data (rounded down), but at least 1 so that removing the only account still works.
 *
 * @returns `max(1, floor(accountsWithData / 2))`
 * @throws {RangeError} when `accountsWithData` is not a non-negative integer.
 */
export function defaultPurgeMax(accountsWithData: number): number {
  if (!Number.isSafeInteger(accountsWithData) || accountsWithData < 0) {
    throw new RangeError(
      `accountsWithData must be a non-negative integer, got ${accountsWithData}`,
    );
  }
  return Math.max(1, Math.floor(accountsWithData / 2));
}

/**
 * Plans one purge run. Pure and deterministic: the same inputs give the same plan.
 *
 * Accounts that are due stay in the returned `absentSince` (they are still candidates), so a purge
 * that fails is retried on the next run; once their directory is gone they drop out by themselves.
 *
 * @returns the plan; when `refused` is set, `purge` and `wouldPurge` are empty.
 * @throws {RangeError} when `now`, `graceMs` or `max` is out of range.
 */
export function planPurge(inputs: PurgeInputs): PurgePlan {
  const {
    resolverAccounts,
    mountAccounts,
    systemAccount,
    now,
    graceMs,
    max,
    dryRun,
    isAccountKey,
  } = inputs;
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite number, got ${now}`);
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(`graceMs must be a non-negative number, got ${graceMs}`);
  }
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) {
    throw new RangeError(`${PURGE_MAX_SETTING} must be a non-negative integer, got ${max}`);
  }

  const names = [...new Set(inputs.storeDirNames)].sort();
  const ignored = names.filter((name) => !isAccountKey(name));
  const accountsWithData = names.filter((name) => isAccountKey(name));
  const candidates = accountsWithData.filter((account) =>
    !resolverAccounts.has(account) && !mountAccounts?.has(account) && account !== systemAccount
  );
  const limit = max ?? defaultPurgeMax(accountsWithData.length);
  const plan: PurgePlan = {
    purge: [],
    wouldPurge: [],
    waiting: [],
    ignored,
    absentSince: new Map(inputs.absentSince),
    limit,
  };

  // The system account's JWT is often only preloaded from the config, so a resolver dir that holds
  // nothing else is as suspicious as an empty one.
  const hasUserAccounts = [...resolverAccounts].some((account) => account !== systemAccount);
  if (!hasUserAccounts) {
    plan.refused = `purge refused: the resolver dir has no account JWTs` +
      (resolverAccounts.size > 0 ? " other than the system account's" : "") +
      `, which looks like a fault (volume not mounted, JWTs failing validation), not a removal ` +
      `of every account; purging nothing and starting no grace timers for ` +
      `${count(candidates.length, "account")} with JetStream data`;
    return plan;
  }
  const mountHasUserAccounts = [...mountAccounts ?? []].some((account) =>
    account !== systemAccount
  );
  if (!mountHasUserAccounts) {
    plan.refused = `purge refused: ${
      mountAccounts === undefined
        ? "the mount could not be listed"
        : "the mount holds no account JWTs" +
          (mountAccounts.size > 0 ? " other than the system account's" : "")
    }, which looks like a fault (volume not mounted, a broken render), not a removal of every ` +
      `account; purging nothing and starting no grace timers for ` +
      `${count(candidates.length, "account")} with JetStream data`;
    return plan;
  }

  const absentSince = new Map<string, number>();
  const due: string[] = [];
  for (const account of candidates) {
    const previous = inputs.absentSince.get(account);
    // A timestamp in the future (clock stepped back) or a corrupt one restarts the grace period.
    const since = previous !== undefined && Number.isFinite(previous) && previous <= now
      ? previous
      : now;
    absentSince.set(account, since);
    const absentFor = now - since;
    if (absentFor >= graceMs) due.push(account);
    else plan.waiting.push({ account, dueInMs: graceMs - absentFor });
  }
  plan.absentSince = absentSince;

  if (due.length > limit) {
    const source = max === undefined
      ? `the default, half of the ${count(accountsWithData.length, "account")} with JetStream data`
      : `set by ${PURGE_MAX_SETTING}`;
    plan.refused =
      `purge refused: ${count(due.length, "account")} ${
        due.length === 1 ? "is" : "are"
      } due for purge but the limit is ${limit} (${source}); purging none. ` +
      `If these accounts were really removed, set ${PURGE_MAX_SETTING}=${due.length} ` +
      `(or more) to allow it: ${due.join(", ")}`;
    return plan;
  }

  if (dryRun) plan.wouldPurge = due;
  else plan.purge = due;
  return plan;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
