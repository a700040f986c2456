// Reads a stack's config (stacks/Pulumi.<stack>.yaml) into PersistentStackArgs.
// Secrets are referenced by config key (`secretEnv: {PGPASSWORD: dbPassword}`),
// read with requireSecret, so they stay secret all the way to the container.
// A key set with `--secret` (also `--secret --path`, which marks the whole
// object) keeps its secrecy: the values that can carry one become secret
// Outputs, and a secret where Docker would show it anyway is refused.
import * as pulumi from "@pulumi/pulumi";
import type { PersistentStackArgs } from "../types";
import { ConfigError, didYouMean, isReservedEnvName, validateStackArgs } from "./schema";

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
    /** Whether a key was set with `--secret` (a `--secret --path` secret marks its whole key). Default: none is. */
    isSecret?(key: string): boolean;
    /** Every key set in the project's namespace, for the unknown-key check. Default: not checked. */
    keys?(): string[];
}

/** A ConfigSource over a real pulumi.Config: secrecy and the key list come from the Pulumi runtime. */
export function pulumiConfigSource(config: pulumi.Config): ConfigSource {
    // isConfigSecret is exported by the runtime but not declared in its typings.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?(key: string): boolean };
    const namespace = `${config.name}:`;
    return {
        getObject: <T>(key: string) => config.getObject<T>(key),
        get: (key: string) => config.get(key),
        requireSecret: (key: string) => config.requireSecret(key),
        isSecret: (key: string) => runtimeConfig.isConfigSecret?.(`${namespace}${key}`) ?? false,
        keys: () =>
            Object.keys(pulumi.runtime.allConfig())
                .filter((k) => k.startsWith(namespace))
                .map((k) => k.slice(namespace.length)),
    };
}

/** Names of restic.env variables that hold credentials: refused in plain text in stack config. */
const credentialName = /PASSWORD|SECRET|TOKEN|_KEY$|ACCOUNT_KEY/;

/**
 * Build validated PersistentStackArgs from stack config. Each container may
 * carry `secretEnv`, a map from environment variable to the config key of a
 * secret; it is replaced by secret Outputs in `env`. `backup.restic` takes
 * `passwordSecret`, `sshKeySecret` and `envSecret` the same way.
 */
export function loadStackArgs(config: ConfigSource | pulumi.Config): PersistentStackArgs {
    const source = config instanceof pulumi.Config ? pulumiConfigSource(config) : config;
    const isSecret = (key: string) => source.isSecret?.(key) ?? false;
    const problems: string[] = [];
    const raw: Record<string, unknown> = {};
    for (const key of configKeys) {
        const scalar = key === "namePrefix" || key === "dockerDataRoot" || key === "dockerHost";
        let value: unknown;
        try {
            value = scalar ? source.get(key) : source.getObject<unknown>(key);
        } catch {
            // pulumi.Config.getObject throws on a value that is not JSON (a plain string).
            problems.push(`${key}: must be a YAML mapping or list, not a plain string; see the config reference in README.md`);
            continue;
        }
        if (value === undefined) {
            continue;
        }
        if (isSecret(key) && key === "dockerHost") {
            raw[key] = source.requireSecret(key);
        } else if (isSecret(key) && key !== "containers" && key !== "backup") {
            problems.push(
                `${key}: set as a secret, but it becomes Docker names, labels or paths that Docker shows in plain text; set it without --secret and keep secrets in their own keys (secretEnv, passwordSecret, envSecret)`,
            );
        } else {
            raw[key] = value;
        }
    }
    const referenced = new Set<string>();
    const secretKey = (where: string, configKey: unknown, what = "<value>"): pulumi.Output<string> | undefined => {
        if (typeof configKey !== "string" || configKey === "") {
            problems.push(`${where}: must name a config key holding a secret`);
            return undefined;
        }
        referenced.add(configKey);
        if (source.get(configKey) === undefined) {
            problems.push(`${where}: config key "${configKey}" is not set; run: pulumi config set --secret ${configKey} ${what}`);
            return undefined;
        }
        if (source.isSecret && !source.isSecret(configKey)) {
            problems.push(
                `${where}: config key "${configKey}" is stored in plain text in the stack file; run: pulumi config set --secret ${configKey} ${what}`,
            );
            return undefined;
        }
        return source.requireSecret(configKey);
    };
    loadContainers(raw.containers, isSecret("containers"), secretKey, problems);
    loadRestic(raw.backup, isSecret("backup"), secretKey, problems);
    loadNotify(raw.backup, secretKey, problems);
    checkUnknownKeys(source, referenced, problems);
    if (problems.length) {
        throw new ConfigError(problems, "stack config");
    }
    return validateStackArgs(raw, "stack config");
}

type SecretKey = (where: string, configKey: unknown, what?: string) => pulumi.Output<string> | undefined;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Strings become secret Outputs (a `--secret --path` object keeps its secrecy); anything else is left to validation. */
const secretIfString = (v: unknown) => (typeof v === "string" ? pulumi.secret(v) : v);

/** `{VAR: configKey}` at `where` into `env`: each VAR becomes the secret Output of its config key. */
function addSecretEnv(env: Record<string, unknown>, refs: unknown, where: string, secretKey: SecretKey, problems: string[]): void {
    for (const [name, configKey] of Object.entries(isRecord(refs) ? refs : {})) {
        if (Object.hasOwn(env, name)) {
            problems.push(`${where}.${name}: ${name} is also set in env; set it in one place`);
            continue;
        }
        const value = secretKey(`${where}.${name}`, configKey);
        if (value) {
            env[name] = value;
        }
    }
}

/** `secretEnv` into secret env values; with a secret `containers` object, every value that can hold a secret. */
function loadContainers(containers: unknown, secretObject: boolean, secretKey: SecretKey, problems: string[]): void {
    if (!isRecord(containers)) {
        return;
    }
    for (const [key, container] of Object.entries(containers)) {
        if (!isRecord(container)) {
            continue;
        }
        const env: Record<string, unknown> = isRecord(container.env) ? { ...container.env } : {};
        if (secretObject) {
            for (const name of Object.keys(env)) {
                env[name] = secretIfString(env[name]);
            }
            container.image = secretIfString(container.image);
            for (const field of ["command", "entrypoint"]) {
                if (Array.isArray(container[field])) {
                    container[field] = (container[field] as unknown[]).map(secretIfString);
                }
            }
        }
        if (container.secretEnv !== undefined) {
            addSecretEnv(env, container.secretEnv, `containers.${key}.secretEnv`, secretKey, problems);
            delete container.secretEnv;
        }
        if (container.env !== undefined || Object.keys(env).length) {
            container.env = env;
        }
    }
}

/**
/**
 * `backup.notify[i].urlSecret` names the config key of a secret holding the
 * target URL (it usually carries a token); it becomes the secret Output `url`.
 * A plain `url` in stack config is refused: it would sit in the YAML in clear.
 */
function loadNotify(backup: unknown, secretKey: SecretKey, problems: string[]): void {
    const targets = isRecord(backup) ? backup.notify : undefined;
    if (!Array.isArray(targets)) {
        return;
    }
    targets.forEach((target: unknown, i) => {
        if (!isRecord(target)) {
            return;
        }
        const where = `backup.notify[${i}]`;
        if (target.url !== undefined) {
            problems.push(
                `${where}.url: notification URLs are secrets; set urlSecret to the config key of a secret (pulumi config set --secret ...)`,
            );
            return;
        }
        if (target.urlSecret === undefined) {
            return;
        }
        const key = target.urlSecret;
        delete target.urlSecret;
        const value = secretKey(`${where}.urlSecret`, key, "<url>");
        if (value) {
            target.url = value;
        }
    });
}

/**
 * `backup.restic.passwordSecret`, `sshKeySecret` and `envSecret` name config
 * keys holding secrets; they become the secret Outputs `password`, `sshKey`
 * and `env` values. A plain-text password, key or credential is refused.
 */
function loadRestic(backup: unknown, secretObject: boolean, secretKey: SecretKey, problems: string[]): void {
    const restic = isRecord(backup) ? backup.restic : undefined;
    if (!isRecord(restic)) {
        return;
    }
    const env: Record<string, unknown> = isRecord(restic.env) ? { ...restic.env } : {};
    for (const [field, target, example] of [
        ["passwordSecret", "password", "resticPassword"],
        ["sshKeySecret", "sshKey", "resticSshKey"],
    ] as const) {
        if (restic[target] !== undefined && !secretObject) {
            problems.push(
                `backup.restic.${target}: a plain-text ${target === "password" ? "password" : "SSH key"} in the stack file is stored unencrypted (in git and the state); run: pulumi config set --secret ${example} ${target === "password" ? "<password>" : "< key-file"}, then set backup.restic.${field}: ${example}`,
            );
        } else if (secretObject) {
            restic[target] = secretIfString(restic[target]);
        }
        if (restic[field] === undefined) {
            continue;
        }
        const configKey = restic[field];
        delete restic[field];
        if (restic[target] !== undefined) {
            problems.push(`backup.restic.${field}: ${target} is also set; set it in one place`);
            continue;
        }
        const value = secretKey(`backup.restic.${field}`, configKey, target === "password" ? "<password>" : "< key-file");
        if (value) {
            restic[target] = value;
        }
    }
    for (const name of Object.keys(env)) {
        if (secretObject) {
            env[name] = secretIfString(env[name]);
        } else if (credentialName.test(name) && !isReservedEnvName(name) && typeof env[name] === "string") {
            const example = name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
            problems.push(
                `backup.restic.env.${name}: a credential in plain text in the stack file is stored unencrypted; run: pulumi config set --secret ${example} <value>, then move it to backup.restic.envSecret: {${name}: ${example}}`,
            );
        }
    }
    if (restic.envSecret !== undefined) {
        addSecretEnv(env, restic.envSecret, "backup.restic.envSecret", secretKey, problems);
        delete restic.envSecret;
    }
    if (restic.env !== undefined || Object.keys(env).length) {
        restic.env = env;
    }
}

/**
 * A top-level key the program does not read is a typo that would deploy a
 * stack without what the user meant (`backups:` instead of `backup:`).
 */
function checkUnknownKeys(source: ConfigSource, referenced: Set<string>, problems: string[]): void {
    for (const key of source.keys?.() ?? []) {
        if ((configKeys as readonly string[]).includes(key) || referenced.has(key)) {
            continue;
        }
        const suggestion = didYouMean(key, configKeys);
        problems.push(
            `${key}: unknown config key${suggestion ? ` (did you mean "${suggestion}"?)` : ""}; the program reads ${configKeys.join(", ")} and the secret keys they name (secretEnv, passwordSecret, sshKeySecret, envSecret); remove it with pulumi config rm ${key}`,
        );
    }
}
