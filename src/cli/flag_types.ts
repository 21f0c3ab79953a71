/**
 * The shapes of the flags: what a parsed command line holds (the daemon's,
 * `check`'s, and the serving-policy flags both share), what one flag
 * definition says, and the error a bad flag raises. Types only, and the
 * error class; the definitions themselves are in `flag_table.ts`.
 *
 * @module
 */
import type { ServingPolicy } from "../core/policy.ts";
import type { LogFormat, LogLevel } from "../log.ts";

/**
 * The flags that make the serving policy: the daemon's and `check`'s. The
 * same settings as core's {@linkcode ServingPolicy} (one list of fields),
 * except the two durations, which flags hold in milliseconds under their
 * flag names, and the shared ranges, which a parsed command line always has.
 */
export type PolicyFlags =
  & Omit<
    ServingPolicy,
    "nodeAddressWaitMs" | "maxPendingAgeMs" | "sharedAddressCidrs"
  >
  & {
    sharedAddressCidrs: string[];
    /** Milliseconds. */
    nodeAddressWait: number;
    /** Milliseconds; 0 turns the age limit off. */
    maxPendingAge: number;
  };

/** Parsed daemon options. */
export interface DaemonFlags extends PolicyFlags {
  kubeconfig?: string;
  context?: string;
  listen: string;
  dryRun: boolean;
  denyInvalid: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** Undefined (with `kubeApiBurst` undefined too): chosen automatically. */
  kubeApiQps?: number;
  kubeApiBurst?: number;
  kubeApiTimeout: number;
  workers: number;
  subresource: string;
  /** Undefined means "true when running in-cluster". */
  leaderElect?: boolean;
  leaderElectNamespace?: string;
  leaderElectLeaseName: string;
  /** Milliseconds. */
  leaderElectLeaseDuration: number;
  /** Milliseconds. */
  leaderElectRenewDeadline: number;
  /** Milliseconds. */
  leaderElectRetryPeriod: number;
  maxPendingSurplus: number;
  once: boolean;
  help: boolean;
  version: boolean;
}

/** Parsed `check` flags (its FILE argument aside). */
export interface CheckFlags extends PolicyFlags {
  /** `--node` files, in order. */
  node: string[];
  output: "text" | "json";
  help: boolean;
}

/** A flag the user got wrong: the message is one line naming the flag. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** The two commands that take flags. */
export type Command = "daemon" | "check";

/**
 * Which command accepts a flag: `daemon` or `check` only, `policy` (both: a
 * serving-policy flag, see `servingPolicyFromFlags` in `flags_policy.ts`), or `common`
 * (both, e.g. `--help`).
 */
export type FlagScope = "daemon" | "check" | "policy" | "common";

/**
 * How a value is read: `list` splits on commas and appends; `files` appends
 * each value whole (a path may hold a comma).
 */
export type FlagKind =
  | "string"
  | "bool"
  | "number"
  | "int"
  | "duration"
  | "list"
  | "files";

/** One flag: its name, who accepts it, how it parses, its default and help. */
export interface FlagDef {
  name: string;
  /** A one-letter alias (`-h`). */
  alias?: string;
  scope: FlagScope;
  key: keyof DaemonFlags | keyof CheckFlags;
  kind: FlagKind;
  /** The value without the flag; lists are copied before appending. */
  default: string | number | boolean | readonly string[] | undefined;
  /** Shown in --help instead of the default value. */
  defaultText?: string;
  help: string;
  check?: (v: unknown) => string | undefined;
}
