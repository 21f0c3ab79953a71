/**
 * Tiny assertion helpers for the tests (JSR's `@std/assert` is unavailable).
 *
 * @module
 */
import {
  AssertionError as NodeAssertionError,
  deepStrictEqual,
} from "node:assert/strict";

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

/**
 * Fails unless `actual` deep-equals `expected` with `node:assert/strict`'s
 * `deepStrictEqual` semantics: prototypes must match, a property that is
 * `undefined` is not the same as a missing one (`[1, undefined]` is not
 * `[1]`, `{ a: undefined }` is not `{}`), `-0` is not `0`, and Errors
 * compare by type, name and message.
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
  try {
    deepStrictEqual(actual, expected);
  } catch (e) {
    if (!(e instanceof NodeAssertionError)) throw e;
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
