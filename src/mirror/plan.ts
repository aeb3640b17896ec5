/**
 * Decides how to bring the resolver dir in line with the mounted account JWTs.
 *
 * The mount (a ConfigMap or Secret volume) is the source of truth; the resolver dir is the
 * nats-server's writable copy. The plan writes valid JWTs that are new or changed, removes account
 * JWTs that left the mount, and is conservative about everything else: an invalid mounted file never
 * replaces or removes the previous copy, the system account's JWT is never removed, files the
 * supervisor did not make (tombstones `<pub>.jwt.deleted`, other names) are never touched, and a
 * mount with no account JWT besides the system account's removes nothing, since that is far more
 * likely a mounting mistake than an intent to delete every account. Neither does a pass that would
 * remove more accounts at once than the removal limit allows (a broken render of a ConfigMap that
 * lost most of its keys): it removes none, and says how to allow it.
 *
 * A JWT that the mirror already saw in step with the resolver dir (`known`) and must now write again
 * means the resolver dir changed behind the supervisor's back (a file deleted, tombstoned by a
 * `$SYS.REQ.CLAIMS.DELETE`, or overwritten with something older): such writes are listed in
 * `repaired`, so the caller can say so.
 *
 * The resolver dir may be given as each file's content, or (as the mirror does) as each file's
 * digest, with its `iat` where it differs from the mount: a {@linkcode ResolverCopy}. A copy the
 * mirror did not read from disk this run (`unread`: its model's word) may only ever be found
 * identical to the mounted JWT; the plan never writes over or removes such a copy, it lists it in
 * `unread` instead, so a decision that touches a file is always made on what the file holds now.
 *
 * Pure: {@linkcode applyMirrorPlan} in `files.ts` carries the plan out.
 *
 * @module
 */

import { type AccountClaims, isAccountPublicKey } from "../jwt/account_jwt.ts";
import { base64UrlDecode } from "../jwt/encoding.ts";
import { accountOfFileName, JWT_SUFFIX, jwtFileName } from "../jwt/jwt_files.ts";
import { contentDigest } from "../shared/digest.ts";

/** A `*.jwt` file in the mount dir and the result of checking it. */
export interface MountEntry {
  /** `<account public key>.jwt` */
  name: string;
  check: MountCheck;
  /**
   * {@linkcode contentDigest} of what would be written (the trimmed JWT) when the check passed;
   * of the file as read when it did not (what "the same content" means for a rejection). Absent
   * for a file that could not be read.
   */
  digest?: string;
}

/** The claims of a valid mounted JWT that the mirror's decisions need. */
export type CheckedClaims =
  & Pick<AccountClaims, "sub">
  & Partial<Pick<AccountClaims, "iss" | "name" | "iat" | "exp" | "nats">>;

/**
 * A mounted file's verdict. A valid JWT's text (`jwt`) is there when the mirror has it at hand:
 * always for a file it may write (it reads the file again if need be), not for one the resolver
 * dir already holds.
 */
export type MountCheck =
  | { ok: true; jwt?: string; claims: CheckedClaims; timeDependent?: boolean }
  | { ok: false; reason: string; timeDependent?: boolean };

/**
 * A resolver file as a run knows it: the digest of its content and, where it may matter (it
 * differs from the mounted JWT), its `iat` (undefined: none, or not readable). `unread`: not read
 * from disk this run; the mirror's model vouches for the digest.
 */
export interface ResolverCopy {
  digest: string;
  iat?: number;
  unread?: boolean;
}

/** What to do to the resolver dir; all lists are sorted. */
export interface MirrorPlan {
  /**
   * Valid mounted JWTs that are absent from the resolver dir or differ from its copy; `digest` is
   * the entry's, when it has one.
   */
  write: { name: string; jwt: string; digest?: string }[];
  /** `<pub>.jwt` files of the resolver dir that are no longer in the mount. */
  remove: string[];
  /** Valid mounted JWTs whose resolver copy is already identical. */
  unchanged: string[];
  /** Invalid mounted files; `keptPrevious` says a previous copy exists and stays. */
  rejected: { name: string; reason: string; keptPrevious: boolean }[];
  /** Account public keys written for the first time (for the claims-push hook). */
  added: string[];
  /** Account public keys whose JWT is rewritten (for the claims-push hook). */
  changed: string[];
  /** Account public keys whose JWT is removed (for the claims-delete hook). */
  removed: string[];
  /**
   * Valid mounted JWTs older (by `iat`) than the resolver's copy: not written, not pushed. In a
   * cluster a peer may have pushed a newer JWT while this node's mount is still catching up;
   * writing (and then pushing) the older one would roll the whole cluster back, and nats-server
   * accepts an older JWT with a 200 and breaks the account at its next restart.
   */
  newerInResolver: { name: string; mountIat: number; resolverIat: number }[];
  /**
   * Writes that repair drift: the mounted JWT is the one `known` recorded, so the resolver dir lost
   * (`missing`) or changed (`different`) its copy since. A subset of `added` and `changed`.
   */
  repaired: { account: string; found: "missing" | "different" }[];
  /**
   * Set when nothing is removed although files left the mount (the mount holds no account JWT
   * besides the system account's, or more removals than the limit): why, and what to do.
   */
  refusedRemoval?: string;
  /**
   * Files the plan would have to write or remove but was given only the model's word for
   * (`unread` copies), or a valid JWT without its text: left alone, never acted on. Only present
   * when not empty; the caller reads the resolver dir whole next time.
   */
  unread?: string[];
}

/** The name of the setting that overrides the removal limit; quoted in refusal reasons. */
export const REMOVE_MAX_SETTING = "POT_NATS_REMOVE_MAX";

/** Options of {@linkcode planMirror}. */
export interface PlanMirrorOptions {
  /** The system account's public key: its JWT is never removed from the resolver dir. */
  systemAccount?: string;
  /**
   * Most accounts one pass may remove (`POT_NATS_REMOVE_MAX`); undefined: half of the account JWTs
   * in the resolver dir besides the system account's, at least 1 ({@linkcode defaultRemoveMax}).
   */
  removeMax?: number;
  /**
   * File name -> the JWT last seen identical in the mount and the resolver dir (its digest, for
   * entries that have one).
   */
  known?: ReadonlyMap<string, string>;
}

/**
 * The default removal limit: half of the account JWTs in the resolver dir (rounded down), at least
 * 1, so that an ordinary removal goes through and a mass removal does not.
 */
export function defaultRemoveMax(accountsInResolver: number): number {
  return Math.max(1, Math.floor(accountsInResolver / 2));
}

/**
 * Plans the mirror from the checked mount entries and the resolver dir's current files.
 *
 * `resolverFiles` maps the name of every `*.jwt` file in the resolver dir to its content or its
 * {@linkcode ResolverCopy}. Mirrored content is the trimmed JWT (no trailing newline) and is
 * compared byte for byte (or by digest), so a resolver copy with stray whitespace is rewritten
 * clean.
 *
 * @returns the plan; never throws
 */
export function planMirror(
  mount: MountEntry[],
  resolverFiles: ReadonlyMap<string, string | ResolverCopy>,
  options: PlanMirrorOptions = {},
): MirrorPlan {
  const plan: MirrorPlan = {
    write: [],
    remove: [],
    unchanged: [],
    rejected: [],
    added: [],
    changed: [],
    removed: [],
    newerInResolver: [],
    repaired: [],
  };

  const unread: string[] = [];
  const mounted = new Set<string>();
  /** Mounted files whose check passed: their name was found to be an account key already. */
  const validMounted = new Set<string>();
  for (const entry of [...mount].sort(byName)) {
    const { name, check } = entry;
    mounted.add(name);
    if (check.ok) validMounted.add(name);
    const previous = resolverFiles.get(name);
    if (!check.ok) {
      plan.rejected.push({ name, reason: check.reason, keptPrevious: previous !== undefined });
    } else if (previous !== undefined && sameContent(previous, entry)) {
      plan.unchanged.push(name);
    } else if (isUnread(previous) || check.jwt === undefined) {
      unread.push(name); // what it would overwrite, or what it would write, is not known here
    } else if (isOlder(check.claims.iat, iatOf(previous))) {
      plan.newerInResolver.push({
        name,
        mountIat: check.claims.iat ?? 0,
        resolverIat: iatOf(previous)!,
      });
    } else {
      plan.write.push({
        name,
        jwt: check.jwt,
        ...(entry.digest !== undefined ? { digest: entry.digest } : {}),
      });
      (previous === undefined ? plan.added : plan.changed).push(check.claims.sub);
      if (options.known?.get(name) === (entry.digest ?? check.jwt)) {
        plan.repaired.push({
          account: check.claims.sub,
          found: previous === undefined ? "missing" : "different",
        });
      }
    }
  }
  if (unread.length > 0) plan.unread = unread;

  const systemFile = options.systemAccount && jwtFileName(options.systemAccount);
  const mountedAccounts = [...mounted].filter((name) => name !== systemFile).length;
  if (mountedAccounts === 0) {
    const kept = [...resolverFiles.keys()].filter((name) => name !== systemFile).length;
    plan.refusedRemoval = emptyMountReason(mounted.size, kept);
    return plan;
  }

  const orphans: string[] = [];
  let accountsInResolver = 0;
  for (const name of resolverFiles.keys()) {
    if (!name.endsWith(JWT_SUFFIX)) continue;
    const pub = accountOfFileName(name);
    // Only files named like an account's JWT are the mirror's to remove.
    if (pub === options.systemAccount) continue;
    if (!validMounted.has(name) && !isAccountPublicKey(pub)) continue;
    accountsInResolver++;
    if (mounted.has(name)) continue;
    // A removal is decided on the resolver dir as read, never on the model's word.
    if (isUnread(resolverFiles.get(name))) (plan.unread ??= []).push(name);
    else orphans.push(name);
  }
  orphans.sort();
  plan.unread?.sort();
  const limit = options.removeMax ?? defaultRemoveMax(accountsInResolver);
  if (orphans.length > limit) {
    const source = options.removeMax === undefined
      ? `the default, half of the ${accountsInResolver} account JWTs in the resolver dir`
      : `set by ${REMOVE_MAX_SETTING}`;
    plan.refusedRemoval =
      `${orphans.length} accounts left the mount but at most ${limit} may be removed at once ` +
      `(${source}); removing none and keeping their JWT files, since losing most accounts at ` +
      `once is more likely a broken render of the mount than an intent. If these accounts were ` +
      `really removed, set ${REMOVE_MAX_SETTING}=${orphans.length} (or more) to allow it`;
    return plan;
  }
  if (plan.unread?.some((name) => !mounted.has(name))) return plan;
  plan.remove = orphans;
  plan.removed = orphans.map(accountOfFileName);
  return plan;
}

/**
 * True when the resolver copy holds the mounted JWT: compared as text when both texts are at hand,
 * else by digest.
 */
function sameContent(previous: string | ResolverCopy, entry: MountEntry): boolean {
  const jwt = entry.check.ok ? entry.check.jwt : undefined;
  if (typeof previous === "string") {
    return jwt !== undefined ? previous === jwt : contentDigest(previous) === entry.digest;
  }
  return previous.digest === (entry.digest ?? (jwt !== undefined ? contentDigest(jwt) : undefined));
}

function isUnread(copy: string | ResolverCopy | undefined): boolean {
  return typeof copy === "object" && copy.unread === true;
}

function iatOf(copy: string | ResolverCopy | undefined): number | undefined {
  return typeof copy === "object" ? copy.iat : issuedAt(copy);
}

function emptyMountReason(mountedFiles: number, resolverFiles: number): string {
  const holds = mountedFiles === 0
    ? "the mount holds no *.jwt file"
    : "the mount holds no account JWT other than the system account's";
  if (resolverFiles === 0) return `${holds}: nothing to mirror`;
  return `${holds}: keeping all ${resolverFiles} account JWTs of the resolver dir, since an ` +
    "empty or missing mount is more likely a mounting mistake than an intent to remove every " +
    "account";
}

/** True when the mounted JWT's `iat` is known and strictly older than the resolver copy's. */
function isOlder(mountIat: number | undefined, resolverIat: number | undefined): boolean {
  return mountIat !== undefined && resolverIat !== undefined && mountIat < resolverIat;
}

/** The `iat` claim of a JWT's payload, or undefined when it cannot be read (then the mount wins). */
export function issuedAt(jwt: string | undefined): number | undefined {
  const payload = jwt?.trim().split(".")[1];
  if (!payload) return undefined;
  const bytes = base64UrlDecode(payload);
  if (!bytes) return undefined;
  try {
    const iat = (JSON.parse(new TextDecoder().decode(bytes)) as { iat?: unknown }).iat;
    return typeof iat === "number" ? iat : undefined;
  } catch {
    return undefined; // not a readable JWT: nothing to compare, so the mounted one is written
  }
}

function byName(a: MountEntry, b: MountEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
