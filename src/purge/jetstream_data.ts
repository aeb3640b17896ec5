/**
 * Whether an account still has JetStream data on this node's disk. A purge in a cluster deletes the
 * account's streams on every node but leaves an empty `<account>/streams/` directory behind (seen on
 * nats-server 2.10.27), so "the directory is gone" is the wrong test: data means a file somewhere
 * below `<store_dir>/jetstream/<account>/`. Symlinks are not followed.
 */

/**
 * @returns true as soon as a file (anything but a directory) is found below `accountDir`; false
 *   when it is missing or holds only empty directories.
 * @throws errors other than the directory vanishing while it is walked.
 */
export async function hasJetStreamData(accountDir: string): Promise<boolean> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(accountDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isDirectory) return true;
    if (await hasJetStreamData(`${accountDir}/${entry.name}`)) return true;
  }
  return false;
}
