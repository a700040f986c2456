// Reads a stack's config (stacks/Pulumi.<stack>.yaml) into PersistentStackArgs.
// Secrets are referenced by config key (`secretEnv: {PGPASSWORD: dbPassword}`),
// read with requireSecret, so they stay secret all the way to the container.
import * as pulumi from "@pulumi/pulumi";
import type { PersistentStackArgs } from "../types";
import { ConfigError, validateStackArgs } from "./schema";

/** Top-level config keys the program reads. */
export const configKeys = [
    "namePrefix",
    "volumes",
    "containers",
    "network",
    "protection",
    "labels",
    "dockerDataRoot",
    "backup",
    "restores",
    "dockerHost",
] as const;

/** Minimal view of pulumi.Config, so the loader can be tested with plain objects. */
export interface ConfigSource {
    getObject<T>(key: string): T | undefined;
    get(key: string): string | undefined;
    requireSecret(key: string): pulumi.Output<string>;
}

/**
 * Build validated PersistentStackArgs from stack config. Each container may
 * carry `secretEnv`, a map from environment variable to the config key of a
 * secret; it is replaced by secret Outputs in `env`.
 */
export function loadStackArgs(config: ConfigSource): PersistentStackArgs {
    const raw: Record<string, unknown> = {};
    for (const key of configKeys) {
        const value =
            key === "namePrefix" || key === "dockerDataRoot" || key === "dockerHost" ? config.get(key) : config.getObject<unknown>(key);
        if (value !== undefined) {
            raw[key] = value;
        }
    }
    const problems: string[] = [];
    const containers = raw.containers as Record<string, Record<string, unknown>> | undefined;
    if (containers && typeof containers === "object") {
        for (const [key, container] of Object.entries(containers)) {
            if (!container || typeof container !== "object" || container.secretEnv === undefined) {
                continue;
            }
            const secretEnv = container.secretEnv as Record<string, unknown>;
            delete container.secretEnv;
            const env: Record<string, unknown> = { ...((container.env as Record<string, unknown>) ?? {}) };
            for (const [name, configKey] of Object.entries(secretEnv ?? {})) {
                const where = `containers.${key}.secretEnv.${name}`;
                if (typeof configKey !== "string" || configKey === "") {
                    problems.push(`${where}: must name a config key holding a secret`);
                } else if (config.get(configKey) === undefined) {
                    problems.push(`${where}: config key "${configKey}" is not set; run: pulumi config set --secret ${configKey} <value>`);
                } else if (env[name] !== undefined) {
                    problems.push(`${where}: ${name} is also set in env; set it in one place`);
                } else {
                    env[name] = config.requireSecret(configKey);
                }
            }
            container.env = env;
        }
    }
    resolveResticSecrets(raw.backup, config, problems);
    resolveNotifySecrets(raw.backup, config, problems);
    if (problems.length) {
        throw new ConfigError(problems, "stack config");
    }
    return validateStackArgs(raw, "stack config");
}

/**
 * `backup.restic.passwordSecret` and `sshKeySecret` name config keys holding
 * secrets; they become the secret Outputs `password` and `sshKey`.
 */
function resolveResticSecrets(backup: unknown, config: ConfigSource, problems: string[]): void {
    const restic = (backup as { restic?: Record<string, unknown> } | undefined)?.restic;
    if (!restic || typeof restic !== "object") {
        return;
    }
    for (const [field, target] of [
        ["passwordSecret", "password"],
        ["sshKeySecret", "sshKey"],
    ] as const) {
        const key = restic[field];
        if (key === undefined) {
            continue;
        }
        delete restic[field];
        const where = `backup.restic.${field}`;
        if (typeof key !== "string" || key === "") {
            problems.push(`${where}: must name a config key holding a secret`);
        } else if (config.get(key) === undefined) {
            problems.push(`${where}: config key "${key}" is not set; run: pulumi config set --secret ${key} <value>`);
        } else {
            restic[target] = config.requireSecret(key);
        }
    }
}

/**
 * `backup.notify[i].urlSecret` names the config key of a secret holding the
 * target URL (it usually carries a token); it becomes the secret Output `url`.
 * A plain `url` in stack config is refused: it would sit in the YAML in clear.
 */
function resolveNotifySecrets(backup: unknown, config: ConfigSource, problems: string[]): void {
    const targets = (backup as { notify?: unknown } | undefined)?.notify;
    if (!Array.isArray(targets)) {
        return;
    }
    targets.forEach((target: Record<string, unknown>, i) => {
        if (!target || typeof target !== "object") {
            return;
        }
        const where = `backup.notify[${i}]`;
        if (target.url !== undefined) {
            problems.push(
                `${where}.url: notification URLs are secrets; set urlSecret to the config key of a secret (pulumi config set --secret ...)`,
            );
            return;
        }
        const key = target.urlSecret;
        delete target.urlSecret;
        if (typeof key !== "string" || key === "") {
            problems.push(`${where}.urlSecret: must name a config key holding the URL as a secret`);
        } else if (config.get(key) === undefined) {
            problems.push(`${where}.urlSecret: config key "${key}" is not set; run: pulumi config set --secret ${key} <url>`);
        } else {
            target.url = config.requireSecret(key);
        }
    });
}
