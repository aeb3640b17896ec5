/**
 * How account JWTs are named on disk, in the mount and in the resolver dir alike: one
 * `<account public key>.jwt` file per account (nats-server's tombstone of a deleted account is
 * `<account>.jwt.deleted`, which is not a JWT file), and the one lister of such a directory.
 *
 * @module
 */

export const JWT_SUFFIX = ".jwt";

/** True for `*.jwt` names that are not hidden (kubelet's `..data` and temp files are). */
export function isJwtFileName(name: string): boolean {
  return name.endsWith(JWT_SUFFIX) && !name.startsWith(".") && name.length > JWT_SUFFIX.length;
}

/** `<account>.jwt` */
export function jwtFileName(account: string): string {
  return `${account}${JWT_SUFFIX}`;
}

/** The account a `<account>.jwt` name is for (the name without `.jwt`). */
export function accountOfFileName(name: string): string {
  return name.endsWith(JWT_SUFFIX) ? name.slice(0, -JWT_SUFFIX.length) : name;
}

/**
 * Sorted `*.jwt` names of a dir (not dotfiles, not `*.jwt.deleted` tombstones, not directories);
 * undefined when the dir does not exist. Only names: nothing is opened.
 * @throws errors of listing the dir other than NotFound
 */
export function listJwtNames(dir: string): string[] | undefined {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isDirectory && isJwtFileName(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return names.sort();
}
