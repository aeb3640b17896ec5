/**
 * Times from claims as text. A claim's seconds come from the mount or a server and may be no date
 * at all (`exp: 1e16` is past what a Date holds): `toISOString` would throw on it.
 *
 * @module
 */

/** An ISO time for seconds since the epoch; the number itself when it is no date. */
export function isoFromSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}
