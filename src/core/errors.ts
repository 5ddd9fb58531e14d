/**
 * Errors a user can act on. `InputError` carries where the bad input was (a flag, a file and
 * record, a config field) so the CLI can print one clear line instead of a stack trace.
 */
export class InputError extends Error {
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "InputError";
    this.where = where;
  }
}

/** Throws an InputError unless `value` is an integer ≥ `min`. */
export function requireInteger(where: string, value: number, min: number): number {
  if (!Number.isFinite(value) || !Number.isInteger(value)) throw new InputError(where, `must be an integer, got ${value}`);
  if (value < min) throw new InputError(where, `must be ≥ ${min}, got ${value}`);
  return value;
}

/** Throws an InputError unless `value` is a finite number (optionally > `above`). */
export function requireFinite(where: string, value: number, above?: number): number {
  if (!Number.isFinite(value)) throw new InputError(where, `must be a finite number, got ${value}`);
  if (above !== undefined && !(value > above)) throw new InputError(where, `must be > ${above}, got ${value}`);
  return value;
}
