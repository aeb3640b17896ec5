/** Small helpers for values of unknown shape: caught errors and parsed JSON. */

/** The message of an error, or the value as text when something else was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True for a plain object (parsed JSON's `{...}`), not an array or null. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
