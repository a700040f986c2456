// Validation of stack config and component args with zod. Every problem is
// reported with its path (`containers.web.mounts[1].volume: ...`) and the fix,
// and validation runs before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { PersistentStackArgs } from "../types";

const dockerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const keyPattern = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/;
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const duration = /^\d+(ms|s|m|h)$/;

/** Label keys the stack sets itself; users may not override them. */
export const reservedLabelPrefix = "pds.";

const nameField = (what: string) =>
    z.string().regex(dockerName, `invalid ${what} name: use 2+ characters from [a-zA-Z0-9_.-], starting with a letter or digit`);

const labels = z.record(z.string().min(1, "label keys must not be empty"), z.string()).superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
        if (key.startsWith(reservedLabelPrefix)) {
            ctx.addIssue({
                code: "custom",
                path: [key],
                message: `label keys starting with "${reservedLabelPrefix}" are reserved for the stack's own labels; pick another key`,
            });
        }
    }
});

const absolutePath = (what: string) =>
    z
        .string({ error: `${what} is required` })
        .min(1, `${what} must not be empty`)
        .refine((p) => p.startsWith("/"), `${what} must be an absolute path (start with "/")`)
        .refine((p) => !p.split("/").includes(".."), `${what} must not contain ".."`);

/** A size: bytes, or a number with a k, m or g suffix. */
export const sizePattern = /^[1-9][0-9]*[kmg]?$/i;

const volumeSchema = z
    .strictObject({
        name: nameField("volume").optional(),
        driver: z.string().min(1, "driver must not be empty").optional(),
        driverOpts: z.record(z.string(), z.string()).optional(),
        labels: labels.optional(),
        external: z.boolean().optional(),
        retainOnDelete: z.boolean().optional(),
        protect: z.boolean().optional(),
    })
    .superRefine((v, ctx) => {
        if (!v.external) {
            return;
        }
        if (!v.name) {
            ctx.addIssue({ code: "custom", path: ["name"], message: "an external volume needs the name of the existing volume" });
        }
        for (const field of ["driver", "driverOpts", "labels"] as const) {
            if (v[field] !== undefined) {
                ctx.addIssue({
                    code: "custom",
                    path: [field],
                    message: `an external volume is adopted as it is: remove ${field} (it is set where the volume was created)`,
                });
            }
        }
    });

const mountSchema = z
    .strictObject({
        type: z.enum(["volume", "bind", "tmpfs"], { error: 'type must be "volume", "bind" or "tmpfs"' }),
        target: absolutePath("target"),
        volume: z.string().optional(),
        source: z.string().optional(),
        readOnly: z.boolean().optional(),
        subpath: z
            .string()
            .min(1, "subpath must not be empty")
            .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), 'subpath must be relative to the volume root, without ".."')
            .optional(),
        noCopy: z.boolean().optional(),
        propagation: z
            .enum(["private", "rprivate", "shared", "rshared", "slave", "rslave"], {
                error: "propagation must be one of private, rprivate, shared, rshared, slave, rslave",
            })
            .optional(),
        allowDangerous: z.boolean().optional(),
        createHostPath: z.boolean().optional(),
        size: z
            .union([z.string(), z.number()])
            .transform((s) => String(s))
            .refine((s) => sizePattern.test(s), 'size must be a positive number of bytes, optionally with k, m or g (e.g. "64m")')
            .optional(),
        mode: z
            .union([z.string(), z.number()])
            .transform((s) => String(s))
            .refine((s) => /^[0-7]{3,4}$/.test(s), 'mode must be octal digits, e.g. "1777" or "700"')
            .optional(),
    })
    .superRefine((m, ctx) => {
        const forbidden: Record<string, string[]> = {
            volume: ["source", "propagation", "allowDangerous", "createHostPath", "size", "mode"],
            bind: ["volume", "subpath", "noCopy", "size", "mode"],
            tmpfs: ["volume", "source", "subpath", "noCopy", "propagation", "allowDangerous", "createHostPath", "readOnly"],
        };
        for (const field of forbidden[m.type] ?? []) {
            if ((m as Record<string, unknown>)[field] !== undefined) {
                ctx.addIssue({ code: "custom", path: [field], message: `${field} does not apply to a ${m.type} mount; remove it` });
            }
        }
        if (m.type === "volume" && !m.volume) {
            ctx.addIssue({ code: "custom", path: ["volume"], message: "a volume mount needs volume: the key of a declared volume" });
        }
        if (m.type === "bind" && m.propagation && m.createHostPath) {
            ctx.addIssue({
                code: "custom",
                path: ["createHostPath"],
                message:
                    "Docker cannot create the host directory of a mount with propagation: create it beforehand and drop createHostPath",
            });
        }
        if (m.type === "bind") {
            const parsed = absolutePath("source").safeParse(m.source);
            if (!parsed.success) {
                ctx.addIssue({ code: "custom", path: ["source"], message: parsed.error.issues[0].message });
            }
        }
    });

const portSchema = z.strictObject({
    internal: z.number().int().min(1).max(65535),
    external: z.number().int().min(1).max(65535).optional(),
    ip: z.string().min(1).optional(),
    protocol: z.enum(["tcp", "udp"], { error: 'protocol must be "tcp" or "udp"' }).optional(),
});

const healthcheckSchema = z.strictObject({
    test: z.array(z.string()).min(1, 'test needs a command, e.g. ["CMD-SHELL", "pg_isready"]'),
    interval: z.string().regex(duration, 'interval must be a duration like "10s"').optional(),
    timeout: z.string().regex(duration, 'timeout must be a duration like "5s"').optional(),
    retries: z.number().int().min(0).optional(),
    startPeriod: z.string().regex(duration, 'startPeriod must be a duration like "30s"').optional(),
});

/** A string, or a Pulumi Output/Promise of one (env values may be secrets). */
const inputString = z.union([z.string(), z.custom<pulumi.Output<string>>((v) => pulumi.Output.isInstance(v) || v instanceof Promise)], {
    error: "must be a string",
});

const containerSchema = z.strictObject({
    image: inputString.refine((v) => typeof v !== "string" || v.length > 0, "image must not be empty"),
    pull: z.boolean().optional(),
    name: nameField("container").optional(),
    command: z.array(inputString).optional(),
    entrypoint: z.array(inputString).optional(),
    env: z
        .record(z.string().regex(envName, "environment variable names use [A-Za-z0-9_] and do not start with a digit"), inputString)
        .optional(),
    workingDir: absolutePath("workingDir").optional(),
    user: z.string().min(1).optional(),
    ports: z.array(portSchema).optional(),
    restart: z
        .enum(["no", "always", "unless-stopped", "on-failure"], { error: "restart must be no, always, unless-stopped or on-failure" })
        .optional(),
    healthcheck: healthcheckSchema.optional(),
    labels: labels.optional(),
    mounts: z.array(mountSchema).optional(),
    networkAliases: z.array(nameField("network alias")).optional(),
    memoryMb: z.number().int().positive("memoryMb must be a positive number of MiB").optional(),
});

const keyed = <T extends z.ZodType>(schema: T, what: string) =>
    z.record(z.string().regex(keyPattern, `invalid ${what} key: use [a-zA-Z0-9_-], starting with a letter or digit`), schema);

const cronField = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;

const cronSchema = (field: string) =>
    z.string().refine(
        (c) =>
            c.trim().split(/\s+/).length === 5 &&
            c
                .trim()
                .split(/\s+/)
                .every((f) => cronField.test(f)),
        `${field} must be a 5-field cron expression, e.g. "15 3 * * *"`,
    );

const hookSchema = z.strictObject({
    container: z.string({ error: "container is required: the key of the container to run the command in" }),
    command: z.array(z.string()).min(1, 'command needs at least one word, e.g. ["sh", "-c", "pg_dump ..."]'),
    timeoutSeconds: z.number().int().positive("timeoutSeconds must be positive").optional(),
    onError: z.enum(["fail", "continue"], { error: 'onError must be "fail" or "continue"' }).optional(),
});

const consistencySchema = z
    .strictObject({
        stop: z.boolean().optional(),
        pause: z.boolean().optional(),
        preCommands: z.array(hookSchema).optional(),
        postCommands: z.array(hookSchema).optional(),
    })
    .refine((c) => !(c.stop && c.pause), { message: "choose stop or pause, not both", path: ["pause"] });

// Notifications, health and metrics of the backups (backup.notify, maxAge, metrics).
const notifySchema = z.strictObject({
    url: inputString.refine(
        (v) => typeof v !== "string" || /^https?:\/\/[^\s]+$/.test(v),
        "url must be an http:// or https:// URL (give it as a secret: urlSecret in stack config)",
    ),
    format: z.enum(["json", "ntfy", "slack", "discord"], { error: 'format must be "json", "ntfy", "slack" or "discord"' }).optional(),
    on: z.enum(["failure", "success", "always"], { error: 'on must be "failure", "success" or "always"' }).optional(),
    network: nameField("network").optional(),
});

const backupMonitoring = {
    notify: z.array(notifySchema).optional(),
    maxAge: z
        .union([z.string(), z.number()])
        .transform((v) => String(v))
        .refine((v) => /^(0|[1-9][0-9]*[smhd])$/.test(v), 'maxAge must be a duration like "90m", "26h" or "7d", or 0 (no age check)')
        .optional(),
    metrics: z
        .strictObject({ hostPath: absolutePath("hostPath").optional(), volume: z.string().optional() })
        .refine((m) => (m.hostPath === undefined) !== (m.volume === undefined), "set exactly one of hostPath and volume")
        .optional(),
};

/** Cross-checks of backup.notify and backup.metrics. */
function checkMonitoring(args: z.output<typeof stackArgsObject>, declared: string[], ctx: z.RefinementCtx): void {
    const backup = args.backup;
    if (!backup) {
        return;
    }
    const metricsVolume = backup.metrics?.volume;
    if (metricsVolume !== undefined && !declared.includes(metricsVolume)) {
        ctx.addIssue({
            code: "custom",
            path: ["backup", "metrics", "volume"],
            message: `unknown volume "${metricsVolume}"; declared: ${declared.join(", ") || "(none)"}`,
        });
    }
    if (backup.metrics?.hostPath && isDangerousHostPath(backup.metrics.hostPath, args.dockerDataRoot)) {
        ctx.addIssue({ code: "custom", path: ["backup", "metrics", "hostPath"], message: `"${backup.metrics.hostPath}" is a system path` });
    }
    // A job container joins one network: every target and a remote repository must agree.
    const restic = backup.engine === "restic" ? backup.restic : undefined;
    const resticNetwork = restic?.network ?? (isRemoteRepository(restic?.repository) ? "bridge" : undefined);
    let network = resticNetwork !== "none" ? resticNetwork : undefined;
    let from = "backup.restic";
    (backup.notify ?? []).forEach((target, i) => {
        const wanted = target.network ?? "bridge";
        if (network === undefined) {
            network = wanted;
            from = `backup.notify[${i}]`;
        } else if (wanted !== network) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "notify", i, "network"],
                message: `the backup jobs join one network: "${wanted}" differs from "${network}" (${from}); reach every target through one network`,
            });
        }
    });
}

const backupSchema = z.strictObject({
    volumes: z.array(z.string(), { error: "volumes must list the keys of the volumes to back up" }),
    engine: z.enum(["tar", "restic"], { error: 'engine must be "tar" or "restic"' }).optional(),
    targetPath: absolutePath("targetPath").optional(),
    targetVolume: z.string().optional(),
    compression: z.enum(["gzip", "zstd", "none"], { error: 'compression must be "gzip", "zstd" or "none"' }).optional(),
    prefix: nameField("archive prefix").optional(),
    image: inputString.optional(),
    pull: z.boolean().optional(),
    schedule: cronSchema("schedule").optional(),
    onDeploy: z.boolean().optional(),
    onDestroy: z.boolean().optional(),
    keepLast: z.number().int().min(0, "keepLast must be 0 (no limit) or more").optional(),
    keepDays: z.number().int().min(0, "keepDays must be 0 (no limit) or more").optional(),
    lockTimeoutSeconds: z.number().int().positive("lockTimeoutSeconds must be positive").optional(),
    consistency: z.record(z.string(), consistencySchema).optional(),
    dockerSocket: absolutePath("dockerSocket").optional(),
    restoreCommand: z.boolean().optional(),
    restic: z
        .strictObject({
            repository: z.string().min(1, "repository must not be empty").optional(),
            password: inputString.optional(),
            keepDaily: z.number().int().min(0, "keepDaily must be 0 (off) or more").optional(),
            keepWeekly: z.number().int().min(0, "keepWeekly must be 0 (off) or more").optional(),
            keepMonthly: z.number().int().min(0, "keepMonthly must be 0 (off) or more").optional(),
            checkSchedule: cronSchema("checkSchedule").optional(),
            checkSubset: z
                .string()
                .regex(
                    /^(0|\d+(\.\d+)?%|\d+\/\d+|\d+[KMGT])$/,
                    'checkSubset must be a percentage ("5%"), n/t ("1/7"), a size ("500M") or 0',
                )
                .optional(),
            network: nameField("network").optional(),
            sshKey: inputString.optional(),
            sshKnownHosts: z.string().optional(),
            env: z.record(z.string().regex(envName, "environment variable names use [A-Za-z0-9_]"), inputString).optional(),
        })
        .optional(),
    diskUsage: z
        .strictObject({
            maxPercent: z
                .number()
                .min(1, "maxPercent must be between 1 and 100")
                .max(100, "maxPercent must be between 1 and 100")
                .optional(),
            maxVolumeSize: z
                .union([z.string(), z.number()])
                .transform((v) => String(v))
                .refine(
                    (v) => sizePattern.test(v),
                    'maxVolumeSize must be a positive number of bytes, optionally with k, m or g (e.g. "10g")',
                )
                .optional(),
            refuseIfNoFit: z.boolean().optional(),
        })
        .optional(),
    ...backupMonitoring,
});

const restoreSchema = z.strictObject({
    volume: z.string({ error: "volume is required: the key of the volume to restore into" }),
    from: z
        .string({ error: 'from is required: "latest" or an archive file name' })
        .min(1)
        .refine(
            (f) => f === "latest" || /^[a-zA-Z0-9][a-zA-Z0-9_.-]*\.tar(\.gz|\.zst)?$/.test(f) || /^[0-9a-f]{4,64}$/.test(f),
            'from must be "latest", an archive file name like "shop-prod-pgdata-20260101T030000Z.tar.gz", or a restic snapshot id',
        ),
    prefix: nameField("archive prefix").optional(),
    sourceVolume: z.string().regex(keyPattern, "sourceVolume must be a volume key").optional(),
    force: z.boolean().optional(),
});

const stackArgsObject = z.strictObject({
    namePrefix: nameField("prefix").optional(),
    volumes: keyed(volumeSchema, "volume").optional(),
    containers: keyed(containerSchema, "container").optional(),
    network: z
        .strictObject({
            name: nameField("network").optional(),
            internal: z.boolean().optional(),
            driver: z.string().min(1).optional(),
        })
        .optional(),
    protection: z.strictObject({ retainOnDelete: z.boolean().optional(), protect: z.boolean().optional() }).optional(),
    labels: labels.optional(),
    dockerDataRoot: absolutePath("dockerDataRoot").optional(),
    backup: backupSchema.optional(),
    restores: z.array(restoreSchema).optional(),
    dockerHost: inputString.optional(),
});

/** The schema of {@link PersistentStackArgs}. */
export const stackArgsSchema = stackArgsObject.superRefine(checkCrossReferences);

/** Host paths never bound without `allowDangerous` (exactly, or anything below the `/*` ones). */
export const dangerousHostPaths = [
    "/",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/boot",
    "/root",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/proc/*",
    "/sys/*",
    "/dev/*",
];

/** Whether binding `hostPath` could hand a container the host (or Docker itself). */
export function isDangerousHostPath(hostPath: string, dockerDataRoot = "/var/lib/docker"): boolean {
    const normalized = hostPath.replace(/\/+$/, "") || "/";
    const under = (root: string) => normalized === root || normalized.startsWith(`${root}/`);
    return (
        dangerousHostPaths.some((p) => (p.endsWith("/*") ? under(p.slice(0, -2)) : normalized === p)) ||
        under(dockerDataRoot.replace(/\/+$/, ""))
    );
}

function checkCrossReferences(args: z.output<typeof stackArgsObject>, ctx: z.RefinementCtx): void {
    const declared = Object.keys(args.volumes ?? {});
    const dataRoot = args.dockerDataRoot ?? "/var/lib/docker";
    const containerNames = new Map<string, string>();
    const hostPorts = new Map<string, string>();
    for (const [key, container] of Object.entries(args.containers ?? {})) {
        const path = ["containers", key];
        const targets = new Map<string, number>();
        (container.mounts ?? []).forEach((mount, i) => {
            const at = [...path, "mounts", i];
            const target = mount.target.replace(/\/+$/, "") || "/";
            if (targets.has(target)) {
                ctx.addIssue({
                    code: "custom",
                    path: [...at, "target"],
                    message: `two mounts on "${target}" (mounts[${targets.get(target)}] and mounts[${i}]); give each mount its own target`,
                });
            } else {
                targets.set(target, i);
            }
            if (mount.type === "volume" && mount.volume && !declared.includes(mount.volume)) {
                ctx.addIssue({
                    code: "custom",
                    path: [...at, "volume"],
                    message: `unknown volume "${mount.volume}"; declared: ${declared.length ? declared.join(", ") : "(none)"}`,
                });
            }
            if (
                mount.type === "bind" &&
                mount.source?.startsWith("/") &&
                !mount.allowDangerous &&
                isDangerousHostPath(mount.source, dataRoot)
            ) {
                ctx.addIssue({
                    code: "custom",
                    path: [...at, "source"],
                    message: `binding "${mount.source}" hands the container the host or Docker itself; bind a dedicated directory, or set allowDangerous: true if you mean it`,
                });
            }
        });
        const dockerName = container.name ?? key;
        if (containerNames.has(dockerName)) {
            ctx.addIssue({
                code: "custom",
                path: [...path, "name"],
                message: `container name "${dockerName}" is also used by containers.${containerNames.get(dockerName)}`,
            });
        }
        containerNames.set(dockerName, key);
        (container.ports ?? []).forEach((port, i) => {
            const hostPort = `${port.ip ?? "*"}:${port.external ?? port.internal}/${port.protocol ?? "tcp"}`;
            if (hostPorts.has(hostPort)) {
                ctx.addIssue({
                    code: "custom",
                    path: [...path, "ports", i, "external"],
                    message: `host port ${hostPort} is already published by ${hostPorts.get(hostPort)}`,
                });
            }
            hostPorts.set(hostPort, `containers.${key}.ports[${i}]`);
        });
    }
    checkBackup(args, declared, ctx);
    checkMonitoring(args, declared, ctx);
    const volumeNames = new Map<string, string>();
    for (const [key, volume] of Object.entries(args.volumes ?? {})) {
        const name = volume.name ?? key;
        if (volumeNames.has(name)) {
            ctx.addIssue({
                code: "custom",
                path: ["volumes", key, "name"],
                message: `volume name "${name}" is also used by volumes.${volumeNames.get(name)}`,
            });
        }
        volumeNames.set(name, key);
    }
}

function checkBackup(args: z.output<typeof stackArgsObject>, declared: string[], ctx: z.RefinementCtx): void {
    const known = declared.length ? declared.join(", ") : "(none)";
    const backup = args.backup;
    if (backup) {
        backup.volumes.forEach((key, i) => {
            if (!declared.includes(key)) {
                ctx.addIssue({ code: "custom", path: ["backup", "volumes", i], message: `unknown volume "${key}"; declared: ${known}` });
            } else if (args.volumes?.[key]?.external) {
                // External volumes can be backed up too: they are mounted by name.
            }
        });
        const remoteRepository = backup.engine === "restic" && isRemoteRepository(backup.restic?.repository);
        if (backup.engine === "restic" && backup.restic?.password === undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "restic", "password"],
                message:
                    "the restic engine needs a repository password: set passwordSecret to the config key of a secret (pulumi config set --secret ...)",
            });
        }
        if (backup.engine !== "restic" && backup.restic !== undefined) {
            ctx.addIssue({ code: "custom", path: ["backup", "restic"], message: 'restic settings need engine: "restic"' });
        }
        if (remoteRepository && backup.targetPath === undefined && backup.targetVolume === undefined) {
            // A remote repository needs no local target.
        } else if ((backup.targetPath === undefined) === (backup.targetVolume === undefined)) {
            ctx.addIssue({
                code: "custom",
                path: ["backup"],
                message: "set exactly one of targetPath (an absolute host directory) and targetVolume (the key of a declared volume)",
            });
        }
        if (backup.targetVolume !== undefined) {
            if (!declared.includes(backup.targetVolume)) {
                ctx.addIssue({
                    code: "custom",
                    path: ["backup", "targetVolume"],
                    message: `unknown volume "${backup.targetVolume}"; declared: ${known}`,
                });
            } else if (backup.volumes.includes(backup.targetVolume)) {
                ctx.addIssue({
                    code: "custom",
                    path: ["backup", "targetVolume"],
                    message: "a volume cannot be backed up into itself; use a dedicated backup volume",
                });
            }
        }
        for (const [key, consistency] of Object.entries(backup.consistency ?? {})) {
            const at = ["backup", "consistency", key];
            if (!backup.volumes.includes(key)) {
                ctx.addIssue({
                    code: "custom",
                    path: at,
                    message: `volume "${key}" is not backed up; backed up: ${backup.volumes.join(", ") || "(none)"}`,
                });
            }
            for (const phase of ["preCommands", "postCommands"] as const) {
                (consistency[phase] ?? []).forEach((hook, i) => {
                    if (!(hook.container in (args.containers ?? {}))) {
                        ctx.addIssue({
                            code: "custom",
                            path: [...at, phase, i, "container"],
                            message: `unknown container "${hook.container}"; declared: ${Object.keys(args.containers ?? {}).join(", ") || "(none)"}`,
                        });
                    }
                });
            }
        }
        if (backup.targetPath && isDangerousHostPath(backup.targetPath, args.dockerDataRoot)) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "targetPath"],
                message: `"${backup.targetPath}" is a system path; use a dedicated backup directory`,
            });
        }
    }
    const restored = new Map<string, number>();
    (args.restores ?? []).forEach((restore, i) => {
        if (!backup) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i],
                message: "restores read from the backup target: configure backup.targetPath or backup.targetVolume",
            });
        }
        if (!declared.includes(restore.volume)) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "volume"],
                message: `unknown volume "${restore.volume}"; declared: ${known}`,
            });
        } else if (args.volumes?.[restore.volume]?.external) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "volume"],
                message: "restoring into an external volume is not supported; declare the volume in this stack",
            });
        }
        if (restored.has(restore.volume)) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "volume"],
                message: `volume "${restore.volume}" is already restored by restores[${restored.get(restore.volume)}]`,
            });
        }
        restored.set(restore.volume, i);
    });
}

/** Whether a restic repository string names a remote backend (`sftp:`, `rest:`, `s3:`...). */
export function isRemoteRepository(repository: string | undefined): boolean {
    return repository !== undefined && /^[a-z0-9]+:/.test(repository);
}

/** Invalid stack config or component args. The message lists every problem, one per line. */
export class ConfigError extends Error {
    constructor(
        readonly problems: string[],
        where = "PersistentStack",
    ) {
        super(`${where}: invalid configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

/** Format a zod issue path as `containers.web.mounts[1].volume`. */
export function formatPath(path: readonly PropertyKey[]): string {
    return path.reduce<string>((acc, part) => {
        if (typeof part === "number") {
            return `${acc}[${part}]`;
        }
        return acc ? `${acc}.${String(part)}` : String(part);
    }, "");
}

/** Human-readable problems from a zod error. */
export function formatIssues(error: z.ZodError): string[] {
    const problems: string[] = [];
    for (const issue of error.issues) {
        if (issue.code === "unrecognized_keys") {
            for (const key of issue.keys) {
                problems.push(
                    `${formatPath([...issue.path, key])}: unknown field (typo?); remove it or check the config reference in README.md`,
                );
            }
            continue;
        }
        if (issue.code === "invalid_key") {
            // A bad record key: report the key's own message under its path.
            problems.push(`${formatPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`);
            continue;
        }
        const where = formatPath(issue.path);
        problems.push(where ? `${where}: ${issue.message}` : issue.message);
    }
    return problems;
}

/**
 * Validate component args. Returns them (with sizes and modes normalized to
 * strings) or throws a {@link ConfigError} listing every problem.
 */
export function validateStackArgs(args: unknown, where?: string): PersistentStackArgs {
    const result = stackArgsSchema.safeParse(args ?? {});
    if (!result.success) {
        throw new ConfigError(formatIssues(result.error), where);
    }
    return result.data as PersistentStackArgs;
}
