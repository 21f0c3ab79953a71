/**
 * Newline-delimited streams, as a watch answers: a byte stream split into
 * lines, decoded as UTF-8 across chunk boundaries, bounded in line length,
 * and abandoned at once when a signal aborts.
 *
 * Apart from the client because it is a pure stream transform, tested with
 * hand-made chunks, and the one place that decides how a watch stops.
 *
 * @module
 */

/** Options of {@linkcode readLines}. */
export interface ReadLinesOptions {
  /** A line longer than this many UTF-16 code units is an error. Default 64 Mi. */
  maxLineLength?: number;
  /**
   * Stops reading when this aborts, even if the underlying fetch does not
   * notice the abort (seen with several watches sharing one HTTP/2
   * connection): the pending read is abandoned and the stream cancelled.
   */
  signal?: AbortSignal;
}

/**
 * Splits a byte stream into lines on `"\n"`, decoding UTF-8 across chunk
 * boundaries (a character may be split anywhere). A trailing `"\r"` is
 * dropped, empty lines are skipped, and a last line without a newline is
 * still yielded. If the consumer stops early, the stream is cancelled.
 *
 * @example
 * ```ts
 * import { readLines } from "./read_lines.ts";
 * const body = ReadableStream.from([new TextEncoder().encode("a\nb")]);
 * for await (const line of readLines(body)) console.log(line); // "a", "b"
 * ```
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  options: ReadLinesOptions = {},
): AsyncGenerator<string, void, undefined> {
  const maxLineLength = options.maxLineLength ?? 64 * 1024 * 1024;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  // Pieces of the current line; joined once when its newline arrives, so a
  // long line split in many chunks costs linear time.
  const parts: string[] = [];
  let partsLength = 0;
  let finished = false;
  const signal = options.signal;
  // Abort cancels the reader, which settles a pending read(). Racing each
  // read against one long-lived promise instead would pile one reaction per
  // chunk (holding that chunk) onto it for the whole life of the watch.
  const reason = () =>
    signal?.reason ?? new DOMException("aborted", "AbortError");
  const onAbort = () => {
    reader.cancel(reason()).catch(() => {});
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const take = (tail: string): string => {
    parts.push(tail);
    const line = parts.join("");
    parts.length = 0;
    partsLength = 0;
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  };
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw reason();
      if (done) break;
      let start = 0;
      let newline = value.indexOf("\n");
      while (newline !== -1) {
        const line = take(value.slice(start, newline));
        if (line.length > maxLineLength) {
          throw new RangeError(
            `stream line longer than ${maxLineLength} characters`,
          );
        }
        if (line !== "") yield line;
        start = newline + 1;
        newline = value.indexOf("\n", start);
      }
      if (start < value.length) {
        parts.push(value.slice(start));
        partsLength += value.length - start;
        if (partsLength > maxLineLength) {
          throw new RangeError(
            `stream line longer than ${maxLineLength} characters`,
          );
        }
      }
    }
    finished = true;
    const last = take("");
    if (last !== "") yield last;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
