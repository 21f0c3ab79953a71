import { stringify } from "yaml";
import {
  type ClusterConnection,
  ConfigError,
  loadClusterConnection,
  type LoadConfigOptions,
} from "../../../src/kube/config.ts";
import { createTestCa } from "../../support/tls.ts";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";

const ca = await createTestCa("config-test CA");
const admin = await ca.issue({
  subject: "O=system:masters, CN=admin",
  client: true,
});
const b64 = (text: string) => new TextEncoder().encode(text).toBase64();

type Yaml = Record<string, unknown>;

/** A kubeconfig with two contexts; `patch` edits it before it is written. */
function kubeconfig(patch: (config: {
  clusters: { name: string; cluster: Yaml }[];
  users: { name: string; user: Yaml }[];
  contexts: { name: string; context: Yaml }[];
  "current-context"?: string;
}) => void = () => {}): string {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "prod",
        cluster: {
          server: "https://prod.example:6443/",
          "certificate-authority-data": b64(ca.cert),
        },
      },
      {
        name: "dev",
        cluster: {
          server: "https://127.0.0.1:7443",
          "certificate-authority": "pki/ca.crt",
        },
      },
    ],
    users: [
      { name: "robot", user: { token: "prod-token" } },
      {
        name: "dev-admin",
        user: {
          "client-certificate": "pki/admin.crt",
          "client-key": "pki/admin.key",
        },
      },
    ],
    contexts: [
      {
        name: "prod",
        context: { cluster: "prod", user: "robot", namespace: "approvers" },
      },
      { name: "dev", context: { cluster: "dev", user: "dev-admin" } },
    ],
    "current-context": "prod",
  };
  patch(config);
  return stringify(config);
}

/** Writes `files` (relative paths) under a fresh temp dir and runs `fn` with it. */
async function withFiles(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      const path = `${dir}/${name}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.writeTextFile(path, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const noEnv = () => undefined;

/** What a test compares: the connection without its token source, plus the token. */
/** The connection's fields; absent ones are left out (exact comparison). */
async function summary(c: ClusterConnection) {
  const all: Record<string, string | undefined> = {
    server: c.server,
    source: c.source,
    namespace: c.namespace,
    caPem: c.caPem,
    clientCertPem: c.clientCertPem,
    clientKeyPem: c.clientKeyPem,
    token: c.tokenSource ? await c.tokenSource.token() : undefined,
  };
  return Object.fromEntries(
    Object.entries(all).filter(([, v]) => v !== undefined),
  );
}

Deno.test("kubeconfig: supported variants", async (t) => {
  const pki = {
    "pki/ca.crt": ca.cert,
    "pki/admin.crt": admin.cert,
    "pki/admin.key": admin.key,
  };
  const cases: {
    name: string;
    files?: Record<string, string>;
    patch?: Parameters<typeof kubeconfig>[0];
    options?: Partial<LoadConfigOptions>;
    expect: (dir: string) => Yaml;
  }[] = [
    {
      name: "current-context with token and CA data",
      expect: (dir) => ({
        server: "https://prod.example:6443",
        source: `kubeconfig ${dir}/config (context prod)`,
        namespace: "approvers",
        caPem: ca.cert,
        token: "prod-token",
      }),
    },
    {
      name:
        "--context selects client cert and CA files relative to the kubeconfig",
      files: pki,
      options: { context: "dev" },
      expect: (dir) => ({
        server: "https://127.0.0.1:7443",
        source: `kubeconfig ${dir}/config (context dev)`,
        caPem: ca.cert,
        clientCertPem: admin.cert,
        clientKeyPem: admin.key,
      }),
    },
    {
      name: "client cert and key as -data",
      patch: (k) => {
        k.users[0].user = {
          "client-certificate-data": b64(admin.cert),
          "client-key-data": b64(admin.key),
        };
      },
      expect: (dir) => ({
        server: "https://prod.example:6443",
        source: `kubeconfig ${dir}/config (context prod)`,
        namespace: "approvers",
        caPem: ca.cert,
        clientCertPem: admin.cert,
        clientKeyPem: admin.key,
      }),
    },
    {
      name: "tokenFile (relative) wins over token",
      files: { "secrets/token": "file-token\n" },
      patch: (k) => {
        k.users[0].user = { token: "inline", tokenFile: "secrets/token" };
      },
      expect: (dir) => ({
        server: "https://prod.example:6443",
        source: `kubeconfig ${dir}/config (context prod)`,
        namespace: "approvers",
        caPem: ca.cert,
        token: "file-token",
      }),
    },
    {
      name: "CA data wins over CA file (the file is not read)",
      files: pki,
      patch: (k) => {
        k.clusters[1].cluster["certificate-authority-data"] = b64(ca.cert);
        k.clusters[1].cluster["certificate-authority"] = "/nonexistent/ca.crt";
      },
      options: { context: "dev" },
      expect: (dir) => ({
        server: "https://127.0.0.1:7443",
        source: `kubeconfig ${dir}/config (context dev)`,
        caPem: ca.cert,
        clientCertPem: admin.cert,
        clientKeyPem: admin.key,
      }),
    },
    {
      name: "$KUBECONFIG: the first path of a ':' list",
      options: { kubeconfig: undefined },
      expect: (dir) => ({
        server: "https://prod.example:6443",
        source: `kubeconfig ${dir}/config (context prod)`,
        namespace: "approvers",
        caPem: ca.cert,
        token: "prod-token",
      }),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withFiles(
        { ...c.files, config: kubeconfig(c.patch) },
        async (dir) => {
          const options: LoadConfigOptions = {
            kubeconfig: `${dir}/config`,
            env: (name) =>
              name === "KUBECONFIG" ? `${dir}/config:/other/config` : undefined,
            ...c.options,
          };
          const connection = await loadClusterConnection(options);
          assertEquals(await summary(connection), c.expect(dir));
        },
      );
    });
  }
});

Deno.test("kubeconfig: errors name the file and field", async (t) => {
  const cases: {
    name: string;
    text?: string;
    patch?: Parameters<typeof kubeconfig>[0];
    options?: Partial<LoadConfigOptions>;
    files?: Record<string, string>;
    includes: string[];
  }[] = [
    {
      name: "missing context lists the available ones",
      options: { context: "staging" },
      includes: [
        '/config: context "staging" not found; available contexts: [prod, dev]',
      ],
    },
    {
      name: "no current-context",
      patch: (k) => {
        delete k["current-context"];
      },
      includes: [
        "no current-context set and no --context given; available contexts: [prod, dev]",
      ],
    },
    {
      name: "exec is not supported",
      patch: (k) => {
        k.users[0].user = {
          exec: {
            command: "aws",
            apiVersion: "client.authentication.k8s.io/v1",
          },
        };
      },
      includes: [
        'users[name="robot"].user.exec: auth method exec is not supported; use a token, tokenFile or client certificate',
      ],
    },
    {
      name: "auth-provider is not supported",
      patch: (k) => {
        k.users[0].user = { "auth-provider": { name: "oidc" } };
      },
      includes: ["auth method auth-provider is not supported"],
    },
    {
      name: "username/password is not supported",
      patch: (k) => {
        k.users[0].user = { username: "admin", password: "secret" };
      },
      includes: ["auth method username is not supported"],
    },
    {
      name: "bad base64",
      patch: (k) => {
        k.clusters[0].cluster["certificate-authority-data"] = "not*base64!";
      },
      includes: [
        'clusters[name="prod"].cluster.certificate-authority-data: expected base64 of PEM text',
      ],
    },
    {
      name: "CA that is not PEM",
      patch: (k) => {
        k.clusters[0].cluster["certificate-authority-data"] = b64(
          "hello world",
        );
      },
      includes: [
        "certificate-authority-data: expected a PEM CERTIFICATE, found 11 characters of text that is not PEM",
      ],
    },
    {
      name: "unreadable CA file",
      options: { context: "dev" },
      includes: [
        'clusters[name="dev"].cluster.certificate-authority: cannot read',
        "pki/ca.crt",
      ],
    },
    {
      name: "client key that is not a key",
      patch: (k) => {
        k.users[0].user = {
          "client-certificate-data": b64(admin.cert),
          "client-key-data": b64(admin.cert),
        };
      },
      includes: [
        "client-key-data: expected a PEM PRIVATE KEY, found a PEM CERTIFICATE block",
      ],
    },
    {
      name: "certificate without key",
      patch: (k) => {
        k.users[0].user = { "client-certificate-data": b64(admin.cert) };
      },
      includes: ["client-key: missing"],
    },
    {
      name: "unreadable tokenFile",
      patch: (k) => {
        k.users[0].user = { tokenFile: "missing-token" };
      },
      includes: ["user.tokenFile: reading token file", "missing-token"],
    },
    {
      name: "insecure-skip-tls-verify is refused",
      patch: (k) => {
        k.clusters[0].cluster = {
          server: "https://x:6443",
          "insecure-skip-tls-verify": true,
        };
      },
      includes: ["insecure-skip-tls-verify: not supported"],
    },
    {
      name: "credentials over plain http are refused",
      patch: (k) => {
        k.clusters[0].cluster = { server: "http://x:8080" };
      },
      includes: ["refusing to send credentials over plain http"],
    },
    {
      name: "bad server URL",
      patch: (k) => {
        k.clusters[0].cluster.server = "prod.example:6443 ";
      },
      includes: [
        'cluster.server: expected an https:// URL, found "prod.example:6443 "',
      ],
    },
    {
      name: "context pointing at a missing user",
      patch: (k) => {
        k.contexts[0].context.user = "ghost";
      },
      includes: [
        'context "prod" refers to user "ghost", which is not in users [robot, dev-admin]',
      ],
    },
    {
      name: "malformed YAML",
      text: "clusters: [\n  - name: x\n  bad",
      includes: ["/config: not valid YAML"],
    },
    {
      name: "empty file",
      text: "",
      includes: ["/config: expected a kubeconfig mapping", "empty document"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withFiles(
        { ...c.files, config: c.text ?? kubeconfig(c.patch) },
        async (dir) => {
          const error = await assertRejects(
            () =>
              loadClusterConnection({
                kubeconfig: `${dir}/config`,
                env: noEnv,
                ...c.options,
              }),
            ConfigError,
          );
          for (const part of c.includes) {
            assert(
              error.message.includes(part),
              `message ${JSON.stringify(error.message)} lacks ${
                JSON.stringify(part)
              }`,
            );
          }
          assert(!error.message.includes("\n"), "one line");
          assert(
            error.message.includes(`kubeconfig ${dir}/config`),
            "names the file",
          );
        },
      );
    });
  }
  await t.step("unreadable kubeconfig", async () => {
    const error = await assertRejects(
      () =>
        loadClusterConnection({
          kubeconfig: "/nonexistent/kubeconfig",
          env: noEnv,
        }),
      ConfigError,
      "kubeconfig /nonexistent/kubeconfig: cannot read",
    );
    assert(!error.message.includes("\n"));
  });
});

Deno.test("in-cluster config", async (t) => {
  const files = {
    "ca.crt": ca.cert,
    token: "sa-token\n",
    namespace: "kube-system\n",
  };
  const cases: { name: string; env: Record<string, string>; server: string }[] =
    [
      {
        name: "IPv4 host",
        env: {
          KUBERNETES_SERVICE_HOST: "10.96.0.1",
          KUBERNETES_SERVICE_PORT: "443",
        },
        server: "https://10.96.0.1:443",
      },
      {
        name: "IPv6 host is bracketed",
        env: {
          KUBERNETES_SERVICE_HOST: "fd00:10:96::1",
          KUBERNETES_SERVICE_PORT: "443",
        },
        server: "https://[fd00:10:96::1]:443",
      },
    ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withFiles(files, async (dir) => {
        const connection = await loadClusterConnection({
          env: (n) => c.env[n],
          serviceAccountDir: dir,
        });
        assertEquals(await summary(connection), {
          server: c.server,
          source: "in-cluster",
          namespace: "kube-system",
          caPem: ca.cert,
          token: "sa-token",
        });
        new URL(connection.server); // must parse
      });
    });
  }
  const env = {
    KUBERNETES_SERVICE_HOST: "10.96.0.1",
    KUBERNETES_SERVICE_PORT: "443",
  };
  const failures: {
    name: string;
    env: Record<string, string>;
    files: Record<string, string>;
    includes: string;
  }[] = [
    {
      name: "missing env",
      env: { KUBERNETES_SERVICE_HOST: "10.96.0.1" },
      files,
      includes:
        "expected KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT to be set (found no KUBERNETES_SERVICE_PORT)",
    },
    {
      name: "unreadable token",
      env,
      files: { "ca.crt": ca.cert },
      includes: "in-cluster: reading token file",
    },
    {
      name: "missing CA",
      env,
      files: { token: "t" },
      includes: "in-cluster: cannot read CA file",
    },
    {
      name: "CA not PEM",
      env,
      files: { token: "t", "ca.crt": "junk" },
      includes: "expected a PEM CERTIFICATE",
    },
  ];
  for (const c of failures) {
    await t.step(c.name, async () => {
      await withFiles(c.files, async (dir) => {
        await assertRejects(
          () =>
            loadClusterConnection({
              env: (n) => c.env[n],
              serviceAccountDir: dir,
            }),
          ConfigError,
          c.includes,
        );
      });
    });
  }
  await t.step("--context without a kubeconfig", async () => {
    await assertRejects(
      () =>
        loadClusterConnection({
          context: "x",
          env: (n) => env[n as keyof typeof env],
        }),
      ConfigError,
      "--context x needs a kubeconfig",
    );
  });
});
