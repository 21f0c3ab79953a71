/**
 * IP addresses for policy: text ↔ bytes, one canonical text per address, and
 * CIDR matching. Pure; no I/O.
 *
 * Canonical form, used everywhere two addresses are compared:
 * - IPv4: dotted decimal (`10.0.0.1`);
 * - IPv6: RFC 5952 (lower-case hex, longest run of zero groups as `::`);
 * - IPv4-mapped IPv6 (`::ffff:a.b.c.d`) folds to its IPv4 form, as Go's
 *   `net.IP` does: a client dialling `::ffff:127.0.0.1` reaches 127.0.0.1,
 *   so the two must never compare as different addresses.
 *
 * About 470 lines: parsing, the canonical text, embedded-IPv4 forms and CIDR
 * matching share one byte representation and are read together.
 *
 * @module
 */

/** Text that is not an IP address or CIDR; the message says what was wrong. */
export class IpParseError extends Error {
  override name = "IpParseError";
}

/** Options of {@linkcode parseIp}. */
export interface ParseIpOptions {
  /**
   * Accept IPv4 fields with leading zeros, read as decimal (`010.0.0.1` is
   * 10.0.0.1), as Go's `netutils.ParseIPSloppy` does. The kubelet reads Node
   * addresses that way, so Node addresses must be read that way too; operator
   * input stays strict because `010` is ambiguous (octal to some tools).
   */
  sloppy?: boolean;
}

function show(text: string): string {
  const cut = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(cut).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

function parseIpv4(
  text: string,
  original: string,
  sloppy: boolean,
): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4) {
    throw new IpParseError(
      `${show(original)} is not an IP address: expected 4 dotted IPv4 fields`,
    );
  }
  const bytes = new Uint8Array(4);
  parts.forEach((part, i) => {
    if (!/^[0-9]+$/.test(part) || (!sloppy && part.length > 3)) {
      throw new IpParseError(
        `${show(original)} is not an IP address: IPv4 field ${
          show(part)
        } is not a decimal number from 0 to 255`,
      );
    }
    if (!sloppy && part.length > 1 && part[0] === "0") {
      throw new IpParseError(
        `${show(original)} is not an IP address: IPv4 field ${
          show(part)
        } has a leading zero (ambiguous: octal to some tools)`,
      );
    }
    const value = Number(part);
    if (value > 255) {
      throw new IpParseError(
        `${show(original)} is not an IP address: IPv4 field ${
          show(part)
        } is greater than 255`,
      );
    }
    bytes[i] = value;
  });
  return bytes;
}

function parseGroups(
  part: string,
  original: string,
  sloppy: boolean,
  allowIpv4Tail: boolean,
): number[] {
  if (part === "") return [];
  const groups: number[] = [];
  const fields = part.split(":");
  fields.forEach((field, i) => {
    if (field.includes(".")) {
      if (!allowIpv4Tail || i !== fields.length - 1) {
        throw new IpParseError(
          `${
            show(original)
          } is not an IP address: an embedded IPv4 address may only end an IPv6 address`,
        );
      }
      const v4 = parseIpv4(field, original, sloppy);
      groups.push(v4[0] * 256 + v4[1], v4[2] * 256 + v4[3]);
      return;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(field)) {
      throw new IpParseError(
        `${show(original)} is not an IP address: IPv6 group ${
          show(field)
        } is not 1 to 4 hexadecimal digits`,
      );
    }
    groups.push(parseInt(field, 16));
  });
  return groups;
}

function parseIpv6(text: string, sloppy: boolean): Uint8Array {
  if (text.includes("%")) {
    throw new IpParseError(
      `${
        show(text)
      } is not an IP address: IPv6 zone identifiers are not allowed`,
    );
  }
  const halves = text.split("::");
  if (halves.length > 2) {
    throw new IpParseError(
      `${show(text)} is not an IP address: "::" may appear only once`,
    );
  }
  const head = parseGroups(halves[0], text, sloppy, halves.length === 1);
  const tail = halves.length === 2
    ? parseGroups(halves[1], text, sloppy, true)
    : [];
  let groups: number[];
  if (halves.length === 1) {
    if (head.length !== 8) {
      throw new IpParseError(
        `${
          show(text)
        } is not an IP address: IPv6 needs 8 groups without "::", found ${head.length}`,
      );
    }
    groups = head;
  } else {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) {
      throw new IpParseError(
        `${
          show(text)
        } is not an IP address: "::" must stand for at least one zero group`,
      );
    }
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * Parses IPv4 dotted decimal or IPv6 text to 4 or 16 bytes. Throws
 * {@linkcode IpParseError} naming what was wrong: no zones, brackets,
 * prefixes, whitespace or (unless `sloppy`) leading zeros.
 *
 * @example
 * ```ts
 * import { parseIp } from "./ip.ts";
 * parseIp("10.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * parseIp("2001:db8::1").length; // 16
 * ```
 */
export function parseIp(
  text: string,
  options: ParseIpOptions = {},
): Uint8Array {
  if (typeof text !== "string" || text === "") {
    throw new IpParseError(
      `${typeof text === "string" ? '""' : typeof text} is not an IP address`,
    );
  }
  if (text.length > 64 || !/^[0-9a-fA-F:.%]+$/.test(text.replace(/%.*/, ""))) {
    throw new IpParseError(
      `${
        show(text)
      } is not an IP address: expected IPv4 dotted decimal or IPv6 hexadecimal`,
    );
  }
  const sloppy = options.sloppy === true;
  return text.includes(":")
    ? parseIpv6(text, sloppy)
    : parseIpv4(text, text, sloppy);
}

/** Every character an address parseIp accepts can contain (linear). */
const IP_CHARACTERS = /^[0-9a-fA-F:.]+$/;

/**
 * {@linkcode parseIp} that returns `undefined` instead of throwing.
 *
 * @example
 * ```ts
 * import { tryParseIp } from "./ip.ts";
 * tryParseIp("worker-1"); // undefined
 * ```
 */
export function tryParseIp(
  text: string,
  options: ParseIpOptions = {},
): Uint8Array | undefined {
  // Most callers ask about host names: turn away anything parseIp would
  // refuse for its characters or length before it builds an error (an
  // exception with its message costs more than the whole parse; a zone's
  // "%" is refused either way).
  if (
    typeof text !== "string" || text.length > 64 || !IP_CHARACTERS.test(text)
  ) {
    return undefined;
  }
  try {
    return parseIp(text, options);
  } catch {
    return undefined;
  }
}

/**
 * True for the 16 bytes of an IPv4-mapped IPv6 address (`::ffff:0:0/96`).
 *
 * @example
 * ```ts
 * import { isIpv4Mapped, parseIp } from "./ip.ts";
 * isIpv4Mapped(parseIp("::ffff:10.0.0.1")); // true
 * ```
 */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Folds an IPv4-mapped IPv6 address to its 4 IPv4 bytes; any other address is
 * returned unchanged.
 *
 * @example
 * ```ts
 * import { foldIpv4Mapped, parseIp } from "./ip.ts";
 * foldIpv4Mapped(parseIp("::ffff:127.0.0.1")); // Uint8Array [127, 0, 0, 1]
 * ```
 */
export function foldIpv4Mapped(bytes: Uint8Array): Uint8Array {
  return isIpv4Mapped(bytes) ? bytes.slice(12) : bytes;
}

/**
 * Text of 4 or 16 address bytes: dotted IPv4, or RFC 5952 IPv6 (lower-case,
 * longest run of two or more zero groups as `::`, first one on ties); an
 * IPv4-mapped address is written `::ffff:a.b.c.d` (fold it first with
 * {@linkcode foldIpv4Mapped} for the canonical form). Throws
 * {@linkcode IpParseError} for any other length.
 *
 * @example
 * ```ts
 * import { formatIp, parseIp } from "./ip.ts";
 * formatIp(parseIp("2001:DB8:0:0:0:0:0:1")); // "2001:db8::1"
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) {
    throw new IpParseError(
      `an IP address has 4 or 16 bytes, found ${bytes.length}`,
    );
  }
  if (isIpv4Mapped(bytes)) {
    return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i] * 256 + bytes[i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${
    hex.slice(bestStart + bestLength).join(":")
  }`;
}

/**
 * The canonical text of an address given as text: parsed, IPv4-mapped
 * folded, formatted. Throws {@linkcode IpParseError} on garbage.
 *
 * @example
 * ```ts
 * import { canonicalIp } from "./ip.ts";
 * canonicalIp("::FFFF:127.0.0.1"); // "127.0.0.1"
 * canonicalIp("fe80:0:0:0:0:0:0:1"); // "fe80::1"
 * ```
 */
export function canonicalIp(
  text: string,
  options: ParseIpOptions = {},
): string {
  return formatIp(foldIpv4Mapped(parseIp(text, options)));
}

/** A parsed CIDR: network bytes (host bits cleared) and prefix length. */
export interface Cidr {
  /** 4 or 16 bytes, host bits zero; IPv4-mapped networks are folded to IPv4. */
  network: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `fd00::/8`. */
  text: string;
}

/** Options of {@linkcode parseCidr}. */
export interface ParseCidrOptions {
  /** Accept a bare address as a single-address CIDR (/32 or /128). */
  allowBareIp?: boolean;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/**
 * Parses `ADDRESS/PREFIX` (IPv4 or IPv6), or a bare address when
 * `allowBareIp`. Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`, as Go's
 * `net.ParseCIDR` reads it); an IPv4-mapped network with a prefix of 96 or
 * more folds to the IPv4 network. Throws {@linkcode IpParseError}.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./ip.ts";
 * parseCidr("10.1.2.3/8").text; // "10.0.0.0/8"
 * parseCidr("fd00::1", { allowBareIp: true }).text; // "fd00::1/128"
 * ```
 */
export function parseCidr(
  text: string,
  options: ParseCidrOptions = {},
): Cidr {
  if (typeof text !== "string") {
    throw new IpParseError(`${typeof text} is not a CIDR`);
  }
  const parts = text.split("/");
  if (parts.length > 2 || (parts.length === 1 && !options.allowBareIp)) {
    throw new IpParseError(
      `${show(text)} is not a CIDR: expected ADDRESS/PREFIX, e.g. 10.0.0.0/8`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = parseIp(parts[0]);
  } catch (error) {
    throw new IpParseError(
      `${show(text)} is not a CIDR: ${(error as Error).message}`,
    );
  }
  const bits = bytes.length * 8;
  let prefix = bits;
  if (parts.length === 2) {
    const p = parts[1];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > bits) {
      throw new IpParseError(
        `${show(text)} is not a CIDR: prefix ${
          show(p)
        } is not a number from 0 to ${bits}`,
      );
    }
    prefix = Number(p);
  }
  if (isIpv4Mapped(bytes) && prefix >= 96) {
    bytes = bytes.slice(12);
    prefix -= 96;
  }
  const network = mask(bytes, prefix);
  return { network, prefix, text: `${formatIp(network)}/${prefix}` };
}

/**
 * True when `ip` (bytes; IPv4-mapped folded first) lies inside `cidr`. IPv4
 * and IPv6 never match each other (as with Go's `IPNet.Contains`).
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidr, parseIp } from "./ip.ts";
 * cidrContains(parseCidr("10.0.0.0/8"), parseIp("::ffff:10.1.2.3")); // true
 * ```
 */
export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  const folded = foldIpv4Mapped(ip);
  if (folded.length !== cidr.network.length) return false;
  const masked = mask(folded, cidr.prefix);
  return masked.every((b, i) => b === cidr.network[i]);
}

/** An IPv4 address carried inside an IPv6 one, and the scheme that carries it. */
export interface EmbeddedIpv4 {
  /** The 4 IPv4 bytes. */
  ipv4: Uint8Array;
  /** The translation or tunnelling scheme, for messages. */
  scheme: string;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function zeros(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The IPv4 addresses an IPv6 address stands for by a well-known embedding,
 * so that rules about IPv4 ranges cannot be dodged by writing the address in
 * IPv6: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, SIIT
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` (RFC 6052) and the local-use
 * `64:ff9b:1::/48` (RFC 8215; every RFC 6052 prefix length inside it, since
 * which one a network uses is not visible in the address), and 6to4
 * `2002::/16` (RFC 3056). Empty for IPv4 and other IPv6 addresses.
 *
 * @example
 * ```ts
 * import { embeddedIpv4, formatIp, parseIp } from "./ip.ts";
 * embeddedIpv4(parseIp("64:ff9b::7f00:1")).map((e) => formatIp(e.ipv4)); // ["127.0.0.1"]
 * ```
 */
export function embeddedIpv4(bytes: Uint8Array): EmbeddedIpv4[] {
  if (bytes.length !== 16) return [];
  const at = (...indexes: number[]) =>
    Uint8Array.from(indexes, (i) => bytes[i]);
  const tail = () => bytes.slice(12);
  if (zeros(bytes, 0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return [{ ipv4: tail(), scheme: "IPv4-mapped" }];
  }
  if (zeros(bytes, 0, 12)) {
    return [{ ipv4: tail(), scheme: "IPv4-compatible" }];
  }
  if (
    zeros(bytes, 0, 8) && bytes[8] === 0xff && bytes[9] === 0xff &&
    bytes[10] === 0 && bytes[11] === 0
  ) {
    return [{ ipv4: tail(), scheme: "SIIT (::ffff:0:0/96)" }];
  }
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b]) && zeros(bytes, 4, 12)) {
    return [{ ipv4: tail(), scheme: "NAT64 (64:ff9b::/96)" }];
  }
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 1])) {
    const scheme = "local-use NAT64 (64:ff9b:1::/48)";
    // RFC 6052 §2.2: bits 64-71 (byte 8) are skipped by every layout.
    return [
      { ipv4: at(6, 7, 9, 10), scheme }, // /48
      { ipv4: at(7, 9, 10, 11), scheme }, // /56
      { ipv4: at(9, 10, 11, 12), scheme }, // /64
      { ipv4: tail(), scheme }, // /96
    ];
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) {
    return [{ ipv4: at(2, 3, 4, 5), scheme: "6to4 (2002::/16)" }];
  }
  return [];
}
