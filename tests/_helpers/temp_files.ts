/** Files for a unit test in a temporary directory, removed afterwards. */

import { dirname, join } from "node:path";

/** Writes `files` (path relative to a new temp dir -> text), runs `test` on the dir, removes it. */
export function withFiles(files: Record<string, string>, test: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "pot-nats-files-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      Deno.mkdirSync(dirname(join(dir, name)), { recursive: true });
      Deno.writeTextFileSync(join(dir, name), text);
    }
    test(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
