/**
 * Whether a path is there: the one existence check the supervisor, its scripts and its tests share.
 */

export interface PathExistsOptions {
  /**
   * Look at what a symlink points to (`Deno.stat`, the default) or at the link itself
   * (`Deno.lstat`: a dangling link still exists, and a link is never mistaken for its target).
   */
  followSymlinks?: boolean;
}

/**
 * @returns true when `path` exists, false when it does not (NotFound, or a parent that is not a
 * directory).
 * @throws any other error from the stat (permissions, I/O): "cannot tell" is not "not there".
 */
export async function pathExists(path: string, options: PathExistsOptions = {}): Promise<boolean> {
  try {
    await (options.followSymlinks === false ? Deno.lstat(path) : Deno.stat(path));
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}
