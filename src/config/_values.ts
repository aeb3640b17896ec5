/**
 * How nats-server types an unquoted value: booleans, numbers and sizes, and the unquoted words its
 * lexer refuses. Private to the config folder.
 *
 * @module
 */

const BOOLEAN = /^(?:true|false|yes|no|on|off)$/i;
const TRUE_WORDS = ["true", "yes", "on"];
const INTEGER_OR_FLOAT = /^-?\d+(?:\.\d+)?$/;
const SIZE = /^(-?\d+)([kmgtpe])(b|i|ib)?$/i;
const SIZE_UNITS = "kmgtpe";

/** `true false yes no on off` in any case as a boolean, or undefined. */
export function parseBoolean(text: string): boolean | undefined {
  return BOOLEAN.test(text) ? TRUE_WORDS.includes(text.toLowerCase()) : undefined;
}

/** An unquoted integer, float or size, or undefined. */
export function parseNumber(text: string): number | undefined {
  if (INTEGER_OR_FLOAT.test(text)) return Number(text);
  const size = SIZE.exec(text);
  if (size === null) return undefined;
  const [, digits = "", unit = "", binarySuffix] = size;
  const base = binarySuffix === undefined ? 1000 : 1024;
  return Number(digits) * base ** (SIZE_UNITS.indexOf(unit.toLowerCase()) + 1);
}

/**
 * Whether nats-server's lexer fails on this unquoted non-number: it reads a leading `.` or `-` as
 * the start of a number, and a digit-led value with a `.` as a float or an IP address.
 */
export function isRejectedUnquoted(text: string): boolean {
  if (text.startsWith(".") || text.startsWith("-")) return true;
  return /^\d+\./.test(text) && !/^[\d.:-]+$/.test(text);
}
