import fc from "fast-check";
import {
  formatSemVer,
  githubOutput,
  imageReferences,
  parseArgs,
  parseSemVer,
  ReleaseTagError,
  releaseTags,
  runCli,
  UsageError,
} from "../../scripts/release_tags.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../support/assert.ts";

const SCRIPT =
  new URL("../../scripts/release_tags.ts", import.meta.url).pathname;

Deno.test("releaseTags: accepted refs give the documented tags", () => {
  const cases: { ref: string; version: string; tags: string[] }[] = [
    { ref: "refs/tags/v1.2.3", version: "1.2.3", tags: ["1.2.3", "1.2"] },
    { ref: "refs/tags/v0.1.0", version: "0.1.0", tags: ["0.1.0", "0.1"] },
    {
      ref: "refs/tags/v10.20.30",
      version: "10.20.30",
      tags: ["10.20.30", "10.20"],
    },
    // Pre-releases never move the X.Y alias.
    {
      ref: "refs/tags/v1.3.0-rc.1",
      version: "1.3.0-rc.1",
      tags: ["1.3.0-rc.1"],
    },
    {
      ref: "refs/tags/v1.0.0-alpha-1.0.x-y",
      version: "1.0.0-alpha-1.0.x-y",
      tags: ["1.0.0-alpha-1.0.x-y"],
    },
    { ref: "refs/tags/v2.0.0-0", version: "2.0.0-0", tags: ["2.0.0-0"] },
    { ref: "refs/heads/main", version: "1.2.3", tags: ["latest"] },
    { ref: "refs/heads/main", version: "1.3.0-rc.1", tags: ["latest"] },
  ];
  for (const c of cases) {
    assertEquals(releaseTags(c), c.tags, `${c.ref} @ ${c.version}`);
  }
});

Deno.test("releaseTags: malformed or mismatched refs fail with a clear message", () => {
  const cases: { ref: string; version: string; message: RegExp }[] = [
    {
      ref: "refs/tags/v1.2",
      version: "1.2.0",
      message: /three numbers.*"1\.2"/,
    },
    {
      ref: "refs/tags/1.2.3",
      version: "1.2.3",
      message: /missing the "v" prefix/,
    },
    {
      ref: "refs/tags/v01.2.3",
      version: "1.2.3",
      message: /MAJOR must not have a leading zero.*"01"/,
    },
    {
      ref: "refs/tags/v1.02.3",
      version: "1.2.3",
      message: /MINOR must not have a leading zero/,
    },
    {
      ref: "refs/tags/v1.2.03",
      version: "1.2.3",
      message: /PATCH must not have a leading zero/,
    },
    {
      ref: "refs/tags/v1.2.3.4",
      version: "1.2.3",
      message: /three numbers.*found 4 part/,
    },
    {
      ref: "refs/tags/vx.y.z",
      version: "1.2.3",
      message: /MAJOR must be a non-negative integer.*"x"/,
    },
    { ref: "refs/tags/v", version: "1.2.3", message: /three numbers/ },
    {
      ref: "refs/tags/v1.2.3-rc.01",
      version: "1.2.3-rc.01",
      message: /deno\.json version.*leading zero.*"01"/,
    },
    {
      ref: "refs/tags/v1.2.3-",
      version: "1.2.3",
      message: /pre-release identifiers must not be empty/,
    },
    {
      ref: "refs/tags/v1.2.3-rc..1",
      version: "1.2.3",
      message: /pre-release identifiers must not be empty/,
    },
    {
      ref: "refs/tags/v1.2.3-rc_1",
      version: "1.2.3",
      message: /only \[0-9A-Za-z-\].*"rc_1"/,
    },
    {
      ref: "refs/tags/v1.2.3+build.5",
      version: "1.2.3",
      message: /tag "v1\.2\.3\+build\.5" has build metadata.*not allowed/,
    },
    {
      ref: "refs/tags/v1.2.4",
      version: "1.2.3",
      message: /tag "v1\.2\.4".*does not match deno\.json version 1\.2\.3/,
    },
    {
      ref: "refs/tags/v1.3.0-rc.1",
      version: "1.3.0",
      message: /"v1\.3\.0-rc\.1".*does not match.*1\.3\.0/,
    },
    {
      ref: "refs/tags/v1.3.0",
      version: "1.3.0-rc.1",
      message: /"v1\.3\.0".*does not match.*1\.3\.0-rc\.1/,
    },
    {
      ref: "refs/heads/feature",
      version: "1.2.3",
      message: /expected a ref .*found "refs\/heads\/feature"/,
    },
    { ref: "refs/pull/7/merge", version: "1.2.3", message: /expected a ref/ },
    { ref: "v1.2.3", version: "1.2.3", message: /expected a ref/ },
    // A broken deno.json version fails even on main.
    {
      ref: "refs/heads/main",
      version: "1.2",
      message: /deno\.json version "1\.2" is not a valid version/,
    },
    {
      ref: "refs/heads/main",
      version: "1.2.3+meta",
      message: /deno\.json version.*build metadata/,
    },
    {
      ref: `refs/tags/v1.0.0-${"a".repeat(130)}`,
      version: `1.0.0-${"a".repeat(130)}`,
      message: /at most 128/,
    },
  ];
  for (const c of cases) {
    const err = assertThrows(() => releaseTags(c), ReleaseTagError);
    assertMatch(err.message, c.message, `${c.ref} @ ${c.version}`);
  }
});

// The regular expression published on semver.org (SemVer 2.0.0 FAQ).
const SEMVER_ORG =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function accepts(text: string): boolean {
  try {
    parseSemVer(text);
    return true;
  } catch (err) {
    if (err instanceof ReleaseTagError) return false;
    throw err;
  }
}

Deno.test("parseSemVer: agrees with the semver.org regex and round-trips", () => {
  const examples = [
    "1.2.3",
    "0.0.0",
    "1.0.0-alpha",
    "1.0.0-0.3.7",
    "1.0.0-x.7.z.92",
    "1.0.0+20130313144700",
    "1.0.0-beta+exp.sha.5114f85",
    "1.0.0-00",
    "01.0.0",
    "1.0",
    "1.0.0.0",
    "1.0.0+",
    "1.0.0-a+b+c",
    "",
  ];
  const text = fc.string({
    unit: fc.constantFrom(..."0123456789.-+aZ_"),
    maxLength: 14,
  });
  const versionish = fc.tuple(
    fc.constantFrom("0", "1", "01", "10", "x"),
    fc.constantFrom("0", "2", "02", ""),
    fc.constantFrom("0", "3", "03", "3.4"),
    fc.constantFrom("", "-rc.1", "-rc.01", "-0a", "-", "-a..b", "-a-b"),
    fc.constantFrom("", "+b", "+b.1", "+", "+01"),
  ).map((parts) => `${parts[0]}.${parts[1]}.${parts[2]}${parts[3]}${parts[4]}`);
  fc.assert(
    fc.property(
      fc.oneof(text, versionish, fc.constantFrom(...examples)),
      (s) => {
        const ok = accepts(s);
        if (ok !== SEMVER_ORG.test(s)) return false;
        return !ok || formatSemVer(parseSemVer(s)) === s;
      },
    ),
    { numRuns: 2000 },
  );
  // The property must have seen both outcomes to mean anything.
  assert(accepts("1.0.0-beta+exp.sha.5114f85"), "a valid version is accepted");
  assert(!accepts("1.0.0-00"), "a leading-zero pre-release is rejected");
});

Deno.test("imageReferences: lower-cases the name and rejects tags and digests", () => {
  assertEquals(
    imageReferences("ghcr.io/Some-Owner/Kubelet-Rubber-Stamp", [
      "1.2.3",
      "1.2",
    ]),
    [
      "ghcr.io/some-owner/kubelet-rubber-stamp:1.2.3",
      "ghcr.io/some-owner/kubelet-rubber-stamp:1.2",
    ],
  );
  assertEquals(imageReferences("localhost:5000/a/b", ["latest"]), [
    "localhost:5000/a/b:latest",
  ]);
  const bad = [
    "",
    "ghcr.io/o/r:1.0",
    "ghcr.io/o/r@sha256:abcd",
    "ghcr.io/o/r ",
    "ghcr.io//r",
    "ghcr.io/o/r/",
  ];
  for (const image of bad) {
    const err = assertThrows(
      () => imageReferences(image, ["1.2.3"]),
      ReleaseTagError,
    );
    assertMatch(err.message, /expected an image name without tag or digest/);
  }
});

Deno.test("githubOutput: heredoc for lists, name=value for scalars", () => {
  assertEquals(
    githubOutput({ tags: ["i:1.2.3", "i:1.2"], version: "1.2.3" }, "EOF_X"),
    "tags<<EOF_X\ni:1.2.3\ni:1.2\nEOF_X\nversion=1.2.3\n",
  );
  const random = githubOutput({ tags: ["i:latest"] });
  assertMatch(random, /^tags<<(ghadelimiter_[0-9a-f-]{36})\ni:latest\n\1\n$/);
  assertThrows(
    () => githubOutput({ version: "1\n2" }),
    ReleaseTagError,
    "single line",
  );
  assertThrows(
    () => githubOutput({ tags: ["EOF_X"] }, "EOF_X"),
    ReleaseTagError,
    "delimiter",
  );
});

Deno.test("parseArgs: accepts both flag forms and rejects mistakes", () => {
  assertEquals(
    parseArgs([
      "--ref=refs/heads/main",
      "--image",
      "ghcr.io/o/r",
      "--version-file",
      "deno.json",
      "--github-output",
    ]),
    {
      ref: "refs/heads/main",
      image: "ghcr.io/o/r",
      versionFile: "deno.json",
      githubOutput: true,
    },
  );
  const bad: { args: string[]; message: string }[] = [
    { args: ["--image", "i", "--version-file", "f"], message: "missing --ref" },
    {
      args: ["--ref", "--image", "i", "--version-file", "f"],
      message: "--ref needs a value",
    },
    {
      args: ["--ref", "r", "--image", "i", "--version-file", "f", "--tag", "x"],
      message: 'unknown argument "--tag"',
    },
    {
      args: ["--ref", "r", "--ref", "s", "--image", "i", "--version-file", "f"],
      message: "--ref was given twice",
    },
    {
      args: ["--ref", "r", "--image", "i", "--version-file"],
      message: "needs a value",
    },
  ];
  for (const c of bad) {
    assertThrows(() => parseArgs(c.args), UsageError, c.message);
  }
});

async function withVersionFile<T>(
  content: string,
  fn: (dir: string, file: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "release_tags_test_" });
  try {
    const file = `${dir}/deno.json`;
    await Deno.writeTextFile(file, content);
    return await fn(dir, file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runCli in-process: reports a bad version file as a failed check", async () => {
  const cases: { content: string; message: RegExp }[] = [
    { content: "{", message: /expected JSON in the version file/ },
    { content: '{"name":"x"}', message: /expected a string "version" field/ },
    { content: '{"version":1}', message: /found 1/ },
  ];
  for (const c of cases) {
    await withVersionFile(c.content, async (_dir, file) => {
      let out = "";
      let err = "";
      const code = await runCli(
        ["--ref", "refs/heads/main", "--image", "i/j", "--version-file", file],
        (t) => out += t,
        (t) => err += t,
      );
      assertEquals(code, 1, c.content);
      assertEquals(out, "");
      assertMatch(err, c.message);
    });
  }
  let err = "";
  const code = await runCli(
    [
      "--ref",
      "refs/heads/main",
      "--image",
      "i/j",
      "--version-file",
      "/nonexistent/deno.json",
    ],
    () => {},
    (t) => err += t,
  );
  assertEquals(code, 1);
  assertMatch(err, /cannot read the version file "\/nonexistent\/deno\.json"/);
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runScript(dir: string, args: string[]): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--allow-read=${dir}`, SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("CLI: tags, exit codes and messages as the release workflow sees them", async () => {
  await withVersionFile('{"version":"1.2.3"}', async (dir, file) => {
    const common = ["--image", "ghcr.io/Owner/Repo", "--version-file", file];
    const cases: {
      name: string;
      args: string[];
      code: number;
      stdout: RegExp;
      stderr: RegExp;
    }[] = [
      {
        name: "release tag",
        args: ["--ref", "refs/tags/v1.2.3", ...common],
        code: 0,
        stdout: /^ghcr\.io\/owner\/repo:1\.2\.3\nghcr\.io\/owner\/repo:1\.2\n$/,
        stderr: /^$/,
      },
      {
        name: "main",
        args: ["--ref", "refs/heads/main", ...common],
        code: 0,
        stdout: /^ghcr\.io\/owner\/repo:latest\n$/,
        stderr: /^$/,
      },
      {
        name: "github output",
        args: ["--ref", "refs/tags/v1.2.3", ...common, "--github-output"],
        code: 0,
        stdout:
          /^tags<<(ghadelimiter_[0-9a-f-]+)\nghcr\.io\/owner\/repo:1\.2\.3\nghcr\.io\/owner\/repo:1\.2\n\1\nversion=1\.2\.3\n$/,
        stderr: /^$/,
      },
      {
        name: "malformed tag",
        args: ["--ref", "refs/tags/v1.2", ...common],
        code: 1,
        stdout: /^$/,
        stderr: /^release_tags: error: tag "v1\.2" is not a valid version/,
      },
      {
        name: "tag differs from deno.json",
        args: ["--ref", "refs/tags/v1.2.4", ...common],
        code: 1,
        stdout: /^$/,
        stderr: /"v1\.2\.4".*does not match deno\.json version 1\.2\.3/,
      },
      {
        name: "missing flag",
        args: ["--ref", "refs/tags/v1.2.3", "--image", "ghcr.io/o/r"],
        code: 2,
        stdout: /^$/,
        stderr: /missing --version-file\nusage: /,
      },
    ];
    const results = await Promise.all(
      cases.map((c) => runScript(dir, c.args)),
    );
    cases.forEach((c, i) => {
      const r = results[i];
      assertEquals(
        r.code,
        c.code,
        `${c.name}: exit code (stderr: ${r.stderr})`,
      );
      assertMatch(r.stdout, c.stdout, `${c.name}: stdout`);
      assertMatch(r.stderr, c.stderr, `${c.name}: stderr`);
    });
  });
});
