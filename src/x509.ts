/**
 * The one door to `@peculiar/x509`.
 *
 * tsyringe (used by @peculiar/x509) needs the Reflect metadata polyfill loaded
 * before it evaluates; ESM evaluation order guarantees that when every import
 * of x509 goes through this module.
 *
 * @module
 */
import "reflect-metadata";
export * from "@peculiar/x509";
