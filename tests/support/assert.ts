/**
 * Tiny assertion helpers for the tests (JSR's `@std/assert` is unavailable).
 *
 * @module
 */

/** Thrown by every helper here when an assertion fails. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

function show(value: unknown): string {
  try {
    return Deno.inspect(value, { depth: 8, colors: false });
  } catch {
    return String(value);
  }
}

/**
 * Fails unless `condition` is truthy.
 *
 * @example
 * ```ts
 * import { assert } from "./assert.ts";
 * assert(1 + 1 === 2, "arithmetic works");
 * ```
 */
export function assert(
  condition: unknown,
  message = "expected a truthy value",
): asserts condition {
  if (!condition) throw new AssertionError(message);
}

function equal(
  a: unknown,
  b: unknown,
  seen: WeakMap<object, unknown>,
): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Map || a instanceof Set) {
    const entriesA = [...a.entries()];
    const entriesB = [...(b as Map<unknown, unknown>).entries()];
    return entriesA.length === entriesB.length &&
      equal(entriesA, entriesB, seen);
  }
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer) {
    const bytesA = new Uint8Array(
      ArrayBuffer.isView(a)
        ? a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)
        : a,
    );
    const bytesB = new Uint8Array(
      ArrayBuffer.isView(b)
        ? b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
        : (b as ArrayBuffer),
    );
    return bytesA.length === bytesB.length &&
      bytesA.every((x, i) => x === bytesB[i]);
  }
  const keysA = Object.keys(a).filter((k) =>
    (a as Record<string, unknown>)[k] !== undefined
  );
  const keysB = Object.keys(b).filter((k) =>
    (b as Record<string, unknown>)[k] !== undefined
  );
  if (keysA.length !== keysB.length) return false;
  return keysA.every((k) =>
    Object.hasOwn(b, k) &&
    equal(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      seen,
    )
  );
}

/**
 * Fails unless `actual` deep-equals `expected` (structural; properties that
 * are `undefined` count as absent).
 *
 * @example
 * ```ts
 * import { assertEquals } from "./assert.ts";
 * assertEquals({ a: [1, 2] }, { a: [1, 2] });
 * ```
 */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  if (!equal(actual, expected, new WeakMap())) {
    throw new AssertionError(
      `${message ? message + ": " : ""}values are not equal\n  actual:   ${
        show(actual)
      }\n  expected: ${show(expected)}`,
    );
  }
}

/**
 * Fails unless `actual` matches `pattern`.
 *
 * @example
 * ```ts
 * import { assertMatch } from "./assert.ts";
 * assertMatch("worker-1", /^worker-\d+$/);
 * ```
 */
export function assertMatch(
  actual: string,
  pattern: RegExp,
  message?: string,
): void {
  if (typeof actual !== "string" || !pattern.test(actual)) {
    throw new AssertionError(
      `${message ? message + ": " : ""}expected ${
        show(actual)
      } to match ${pattern}`,
    );
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

function checkError(
  error: unknown,
  ErrorClass?: ErrorClass,
  includes?: string,
): Error {
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `expected a ${ErrorClass.name}, got ${show(error)}`,
    );
  }
  if (
    includes !== undefined &&
    !(error instanceof Error && error.message.includes(includes))
  ) {
    throw new AssertionError(
      `expected an error message including ${show(includes)}, got ${
        show(error)
      }`,
    );
  }
  return error as Error;
}

/**
 * Fails unless `fn` throws (optionally an instance of `ErrorClass` whose
 * message includes `includes`); returns the error.
 *
 * @example
 * ```ts
 * import { assertThrows } from "./assert.ts";
 * assertThrows(() => JSON.parse("{"), SyntaxError);
 * ```
 */
export function assertThrows(
  fn: () => unknown,
  ErrorClass?: ErrorClass,
  includes?: string,
): Error {
  try {
    fn();
  } catch (error) {
    return checkError(error, ErrorClass, includes);
  }
  throw new AssertionError("expected the function to throw, but it returned");
}

/**
 * Fails unless `fn` rejects (optionally with an instance of `ErrorClass` whose
 * message includes `includes`); resolves to the error.
 *
 * @example
 * ```ts
 * import { assertRejects } from "./assert.ts";
 * await assertRejects(() => Promise.reject(new TypeError("no")), TypeError, "no");
 * ```
 */
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, ErrorClass, includes);
  }
  throw new AssertionError("expected the promise to reject, but it resolved");
}
