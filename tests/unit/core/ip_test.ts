import fc from "fast-check";
import {
  canonicalIp,
  cidrContains,
  foldIpv4Mapped,
  formatIp,
  IpParseError,
  isIpv4Mapped,
  parseCidr,
  parseIp,
  tryParseIp,
} from "../../../src/core/ip.ts";
import { formatIp as requestFormatIp } from "../../../src/core/extension_request.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";

Deno.test("ip: valid text parses to the right bytes and canonical form", () => {
  const table: Array<[string, number[], string]> = [
    ["10.0.0.1", [10, 0, 0, 1], "10.0.0.1"],
    ["0.0.0.0", [0, 0, 0, 0], "0.0.0.0"],
    ["255.255.255.255", [255, 255, 255, 255], "255.255.255.255"],
    ["::", new Array(16).fill(0), "::"],
    ["::1", [...new Array(15).fill(0), 1], "::1"],
    [
      "2001:DB8:0:0:0:0:0:1",
      [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1],
      "2001:db8::1",
    ],
    [
      "2001:0db8:0000:0000:0001:0000:0000:0001",
      [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
      // Two equal zero runs: the first one is compressed (RFC 5952 4.2.3).
      "2001:db8::1:0:0:1",
    ],
    [
      "fe80:0:0:1:0:0:0:1",
      [0xfe, 0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
      // The longest zero run wins, even when it comes second.
      "fe80:0:0:1::1",
    ],
    [
      "1:0:2:3:4:5:6:7",
      [0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7],
      // A single zero group is never compressed (RFC 5952 4.2.2).
      "1:0:2:3:4:5:6:7",
    ],
    ["1::", [0, 1, ...new Array(14).fill(0)], "1::"],
    [
      "::ffff:127.0.0.1",
      [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1],
      "127.0.0.1",
    ],
    [
      "::FFFF:7f00:1",
      [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1],
      "127.0.0.1",
    ],
    [
      "0:0:0:0:0:ffff:10.1.2.3",
      [...new Array(10).fill(0), 0xff, 0xff, 10, 1, 2, 3],
      "10.1.2.3",
    ],
    [
      "64:ff9b::192.0.2.1",
      [0, 0x64, 0xff, 0x9b, ...new Array(8).fill(0), 192, 0, 2, 1],
      "64:ff9b::c000:201",
    ],
  ];
  for (const [text, bytes, canonical] of table) {
    assertEquals(Array.from(parseIp(text)), bytes, text);
    assertEquals(canonicalIp(text), canonical, text);
    // Canonical text is a fixed point.
    assertEquals(canonicalIp(canonical), canonical, `${text} again`);
  }
});

Deno.test("ip: garbage is rejected with a message naming the problem", () => {
  const table: Array<[unknown, string]> = [
    ["", "is not an IP address"],
    ["worker-1", "expected IPv4 dotted decimal or IPv6"],
    ["10.0.0", "expected 4 dotted IPv4 fields"],
    ["10.0.0.0.1", "expected 4 dotted IPv4 fields"],
    ["10.0.0.256", "greater than 255"],
    ["010.0.0.1", "leading zero"],
    ["10..0.1", "not a decimal number"],
    [" 10.0.0.1", "expected IPv4 dotted decimal"],
    ["10.0.0.1/8", "expected IPv4 dotted decimal"],
    ["1::2::3", '"::" may appear only once'],
    ["1:2:3:4:5:6:7", "needs 8 groups"],
    ["1:2:3:4:5:6:7:8:9", "needs 8 groups"],
    ["1:2:3:4:5:6:7:8::", "at least one zero group"],
    ["12345::", "1 to 4 hexadecimal digits"],
    [":1:2:3:4:5:6:7", "1 to 4 hexadecimal digits"],
    ["1:2:3:4:5:6:7:", "1 to 4 hexadecimal digits"],
    [":::", "1 to 4 hexadecimal digits"],
    ["fe80::1%eth0", "zone identifiers"],
    ["[::1]", "expected IPv4 dotted decimal or IPv6"],
    ["1.2.3.4::", "may only end an IPv6 address"],
    ["::1.2.3.4:5", "may only end an IPv6 address"],
    ["::ffff:1.2.3", "expected 4 dotted IPv4 fields"],
    ["g::1", "expected IPv4 dotted decimal or IPv6"],
    [42, "number is not an IP address"],
  ];
  for (const [text, includes] of table) {
    assertThrows(() => parseIp(text as string), IpParseError, includes);
    assertEquals(tryParseIp(text as string), undefined, String(text));
  }
});

Deno.test("ip: sloppy mode reads leading zeros as decimal, like ParseIPSloppy", () => {
  assertEquals(canonicalIp("010.000.000.001", { sloppy: true }), "10.0.0.1");
  assertEquals(canonicalIp("::ffff:010.0.0.1", { sloppy: true }), "10.0.0.1");
  assertThrows(() => parseIp("0256.0.0.1", { sloppy: true }), IpParseError);
  assertThrows(() => parseIp("010.0.0.1"), IpParseError, "leading zero");
});

Deno.test("ip: IPv4-mapped folding", () => {
  const mapped = parseIp("::ffff:192.168.0.1");
  assert(isIpv4Mapped(mapped), "mapped");
  assertEquals(Array.from(foldIpv4Mapped(mapped)), [192, 168, 0, 1]);
  assertEquals(formatIp(mapped), "::ffff:192.168.0.1");
  // Near misses are not mapped.
  for (
    const text of ["::192.168.0.1", "::fffe:192.168.0.1", "1::ffff:1.2.3.4"]
  ) {
    const bytes = parseIp(text);
    assert(!isIpv4Mapped(bytes), text);
    assertEquals(foldIpv4Mapped(bytes), bytes, text);
  }
  assertThrows(() => formatIp(new Uint8Array(5)), IpParseError, "4 or 16");
});

Deno.test("ip: formatIp agrees with the request parser's formatter", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        // Sparse addresses exercise the zero-run compression.
        fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), {
          minLength: 16,
          maxLength: 16,
        }).map((a) => new Uint8Array(a)),
      ),
      (bytes) => {
        const text = formatIp(bytes);
        assertEquals(text, requestFormatIp(bytes));
        // Round trip: text → the same bytes.
        assertEquals(Array.from(parseIp(text)), Array.from(bytes), text);
        return true;
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("ip: CIDR parsing", () => {
  const table: Array<[string, string, boolean?]> = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["10.1.2.3/8", "10.0.0.0/8"],
    ["192.168.1.77/32", "192.168.1.77/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["fd00::1/8", "fd00::/8"],
    ["2001:db8:abcd:12::/64", "2001:db8:abcd:12::/64"],
    ["::/0", "::/0"],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["10.0.0.1", "10.0.0.1/32", true],
    ["fd00::1", "fd00::1/128", true],
  ];
  for (const [text, canonical, bare] of table) {
    assertEquals(parseCidr(text, { allowBareIp: bare }).text, canonical, text);
  }
  const bad: Array<[string, string, boolean?]> = [
    ["10.0.0.1", "expected ADDRESS/PREFIX"],
    ["10.0.0.0/33", "from 0 to 32"],
    ["fd00::/129", "from 0 to 128"],
    ["10.0.0.0/08", "from 0 to 32"],
    ["10.0.0.0/", "from 0 to 32"],
    ["10.0.0.0/8/8", "expected ADDRESS/PREFIX"],
    ["10.0.0/8", "expected 4 dotted IPv4 fields"],
    ["example.com/8", "is not an IP address"],
    ["/8", "is not an IP address"],
    ["10.0.0.0/-1", "from 0 to 32", true],
  ];
  for (const [text, includes, bare] of bad) {
    assertThrows(
      () => parseCidr(text, { allowBareIp: bare }),
      IpParseError,
      includes,
    );
  }
});

Deno.test("ip: CIDR membership, IPv4, IPv6 and mapped", () => {
  const table: Array<[string, string, boolean]> = [
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true],
    ["192.168.1.0/25", "192.168.1.127", true],
    ["192.168.1.0/25", "192.168.1.128", false],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["fd00::/8", "fd12:3456::1", true],
    ["fd00::/8", "fe00::1", false],
    ["fe80::/10", "febf::1", true],
    ["fe80::/10", "fec0::1", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    // IPv4 and IPv6 never match each other (Go's IPNet.Contains).
    ["::/0", "10.0.0.1", false],
    ["::/0", "::ffff:10.0.0.1", false],
    ["::ffff:10.0.0.0/104", "10.9.9.9", true],
    ["10.0.0.1/32", "10.0.0.1", true],
    ["10.0.0.1/32", "10.0.0.2", false],
  ];
  for (const [cidr, ip, expected] of table) {
    assertEquals(
      cidrContains(parseCidr(cidr), parseIp(ip)),
      expected,
      `${cidr} ∋ ${ip}`,
    );
  }
});

Deno.test("ip: tryParseIp answers exactly as parseIp, for host names, addresses and near-misses", () => {
  const parseOrUndefined = (text: string, sloppy: boolean) => {
    try {
      return parseIp(text, { sloppy });
    } catch {
      return undefined;
    }
  };
  const alphabet = fc.constantFrom(..."0123456789abcdefABCDEFxg.:%-[] ");
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: alphabet, maxLength: 70 }),
        fc.ipV4(),
        fc.ipV6(),
        fc.domain(),
      ),
      fc.boolean(),
      (text, sloppy) => {
        assertEquals(
          tryParseIp(text, { sloppy }),
          parseOrUndefined(text, sloppy),
          text,
        );
      },
    ),
    { seed: 42, numRuns: 2000 },
  );
});
