import {
  fileTokenSource,
  staticTokenSource,
  TokenError,
} from "../../../src/kube/token_source.ts";
import { assertEquals, assertRejects } from "../../support/assert.ts";

Deno.test("staticTokenSource returns its token, before and after invalidate", async () => {
  const source = staticTokenSource("abc");
  assertEquals(await source.token(), "abc");
  source.invalidate();
  assertEquals(await source.token(), "abc");
});

/** A fake file system holding one file, counting reads. */
function fakeFile(initial: string | Error) {
  const state = { content: initial as string | Error, reads: 0, now: 0 };
  return {
    state,
    now: () => state.now,
    readTextFile: (_path: string) => {
      state.reads++;
      return state.content instanceof Error
        ? Promise.reject(state.content)
        : Promise.resolve(state.content);
    },
  };
}

Deno.test("fileTokenSource: caching, re-read after maxAge and after invalidate", async (t) => {
  type Step =
    | { do: "token"; expect: string; reads: number }
    | { do: "write"; content: string | Error }
    | { do: "advance"; ms: number }
    | { do: "invalidate" };
  const cases: { name: string; initial: string | Error; steps: Step[] }[] = [
    {
      name: "trims whitespace and caches within maxAge",
      initial: "  tok-1\n",
      steps: [
        { do: "token", expect: "tok-1", reads: 1 },
        { do: "write", content: "tok-2\n" },
        { do: "advance", ms: 59_999 },
        { do: "token", expect: "tok-1", reads: 1 },
      ],
    },
    {
      name: "re-reads once the token is maxAge old",
      initial: "tok-1",
      steps: [
        { do: "token", expect: "tok-1", reads: 1 },
        { do: "write", content: "tok-2" },
        { do: "advance", ms: 60_000 },
        { do: "token", expect: "tok-2", reads: 2 },
        { do: "token", expect: "tok-2", reads: 2 },
      ],
    },
    {
      name: "re-reads immediately after invalidate",
      initial: "tok-1",
      steps: [
        { do: "token", expect: "tok-1", reads: 1 },
        { do: "write", content: "tok-2" },
        { do: "invalidate" },
        { do: "token", expect: "tok-2", reads: 2 },
      ],
    },
    {
      name: "a failed periodic re-read keeps the cached token",
      initial: "tok-1",
      steps: [
        { do: "token", expect: "tok-1", reads: 1 },
        { do: "write", content: new Error("EIO") },
        { do: "advance", ms: 61_000 },
        { do: "token", expect: "tok-1", reads: 2 },
        { do: "write", content: "tok-3" },
        { do: "token", expect: "tok-3", reads: 3 },
      ],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const file = fakeFile(c.initial);
      const source = fileTokenSource("/sa/token", file);
      for (const step of c.steps) {
        if (step.do === "token") {
          assertEquals(await source.token(), step.expect);
          assertEquals(file.state.reads, step.reads, "file reads");
        } else if (step.do === "write") file.state.content = step.content;
        else if (step.do === "advance") file.state.now += step.ms;
        else source.invalidate();
      }
    });
  }
});

Deno.test("fileTokenSource: failures name the path", async (t) => {
  const cases = [
    {
      name: "unreadable",
      content: new Deno.errors.NotFound("No such file"),
      includes: "reading token file /sa/token: No such file",
    },
    {
      name: "empty",
      content: " \n",
      includes: "token file /sa/token is empty",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const file = fakeFile(c.content);
      const source = fileTokenSource("/sa/token", file);
      await assertRejects(() => source.token(), TokenError, c.includes);
    });
  }
  await t.step(
    "unreadable after invalidate throws instead of using the old token",
    async () => {
      const file = fakeFile("tok-1");
      const source = fileTokenSource("/sa/token", file);
      assertEquals(await source.token(), "tok-1");
      file.state.content = new Error("gone");
      source.invalidate();
      await assertRejects(() => source.token(), TokenError, "gone");
    },
  );
});

Deno.test("fileTokenSource: concurrent callers share one read", async () => {
  const file = fakeFile("tok");
  const source = fileTokenSource("/sa/token", file);
  const tokens = await Promise.all([
    source.token(),
    source.token(),
    source.token(),
  ]);
  assertEquals(tokens, ["tok", "tok", "tok"]);
  assertEquals(file.state.reads, 1);
});

Deno.test("fileTokenSource: follows a token file rotated on disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/token`;
    await Deno.writeTextFile(path, "disk-1\n");
    let now = 0;
    const source = fileTokenSource(path, { maxAgeMs: 1000, now: () => now });
    assertEquals(await source.token(), "disk-1");
    // The kubelet swaps the file atomically (rename), as with its ..data symlink.
    await Deno.writeTextFile(`${dir}/token.new`, "disk-2\n");
    await Deno.rename(`${dir}/token.new`, path);
    assertEquals(await source.token(), "disk-1", "still cached");
    now = 1000;
    assertEquals(await source.token(), "disk-2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
