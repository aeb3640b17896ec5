/**
 * Emulates kubelet's atomic writer for ConfigMap/Secret volumes: visible files are symlinks
 * `name -> ..data/name`, `..data -> ..<timestamp>`; an update writes a new timestamped dir, points
 * `..data_tmp` at it, renames `..data_tmp` over `..data`, fixes the visible links, and removes the
 * old timestamped dir. No event is ever reported for a visible name itself.
 *
 * A name with a `/` (a projected volume's `items[].path`, such as `leafnode/hub.creds`) is written
 * below `..data`, and only its first segment gets a visible link (`leafnode -> ..data/leafnode`), as
 * kubelet does.
 */

import { dirname, join } from "node:path";

let sequence = 0;

/**
 * Replaces the volume's whole content with `files` (name -> text) in one atomic swap.
 * @param options.onSwap called right after the swap, before the links are fixed and the old
 *   version is removed
 * @returns `performance.now()` right after the swap: the moment the new content is in the volume.
 */
export async function kubeletWrite(
  volume: string,
  files: Record<string, string>,
  options: { onSwap?: () => void } = {},
): Promise<number> {
  await Deno.mkdir(volume, { recursive: true });
  const stamp = `..2026_11_22_10_00_00.${String(++sequence).padStart(9, "0")}${
    crypto.randomUUID().slice(0, 4)
  }`;
  const stampDir = join(volume, stamp);
  await Deno.mkdir(stampDir);
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(stampDir, name)), { recursive: true });
    await Deno.writeTextFile(join(stampDir, name), text);
  }
  const topLevel = new Set(Object.keys(files).map((name) => name.split("/")[0]!));
  const dataLink = join(volume, "..data");
  const previous = await Deno.readLink(dataLink).catch(() => undefined);
  const tmpLink = join(volume, "..data_tmp");
  await Deno.symlink(stamp, tmpLink);
  await Deno.rename(tmpLink, dataLink);
  const swappedAt = performance.now();
  options.onSwap?.();
  const visible = new Set<string>();
  for await (const entry of Deno.readDir(volume)) {
    if (!entry.name.startsWith(".")) visible.add(entry.name);
  }
  for (const name of topLevel) {
    if (!visible.has(name)) await Deno.symlink(join("..data", name), join(volume, name));
  }
  for (const name of visible) {
    if (!topLevel.has(name)) await Deno.remove(join(volume, name));
  }
  if (previous) await Deno.remove(join(volume, previous), { recursive: true });
  return swappedAt;
}
