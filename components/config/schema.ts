// Validation of stack config and component args with zod. Every problem is
// reported with its path (`containers.web.mounts[1].volume: ...`) and the fix,
// and validation runs before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseSize } from "../plan";
import type {
    BackupSpec,
    ConsistencySpec,
    ContainerSpec,
    DiskUsageSpec,
    HealthcheckSpec,
    HookSpec,
    MountSpec,
    NetworkSpec,
    PersistentStackArgs,
    PortSpec,
    ProtectionSpec,
    ResticSpec,
    RestoreSpec,
    VolumeSpec,
} from "../types";

const dockerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const keyPattern = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/;
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
// At most 6 digits: Docker parses durations into int64 nanoseconds.
const duration = /^\d{1,6}(ms|s|m|h)$/;

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

/**
 * Characters a path may not hold: Docker's `--mount` and `-v` syntaxes (and the
 * provider's binds) split on `,` `:` and `"`, so a path holding them injects
 * mount options (`/srv/x,source=/`); control characters break the job scripts.
 */
// eslint-disable-next-line no-control-regex
const unsafePathCharacters = /[,:"\u0000-\u001f\u007f]/;

const absolutePath = (what: string) =>
    z
        .string({ error: `${what} is required` })
        .min(1, `${what} must not be empty`)
        .refine((p) => p.startsWith("/"), `${what} must be an absolute path (start with "/")`)
        .refine((p) => !p.split("/").includes(".."), `${what} must not contain ".."`)
        .refine(
            (p) => !unsafePathCharacters.test(p),
            `${what} must not contain ",", ":", '"' or control characters (Docker's mount syntax would read them as options); rename the directory`,
        );

/**
 * An integer in [min, max]: everything that reaches shell arithmetic or Docker
 * (64-bit) is bounded, so `1e15` days cannot overflow `$((days * 86400))`.
 */
const integer = (min: number, max: number, meaning = "") =>
    z
        .number({ error: `must be an integer between ${min} and ${max}${meaning}` })
        .int(`must be an integer between ${min} and ${max}${meaning}`)
        .min(min, `must be an integer between ${min} and ${max}${meaning}`)
        .max(max, `must be an integer between ${min} and ${max}${meaning}`);

/** Largest size accepted anywhere (1 PiB): far below 2^63 bytes, and exact in a JS number. */
export const maxSizeBytes = 1024 ** 5;

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
            .refine((s) => !sizePattern.test(s) || parseSize(s) <= maxSizeBytes, "size must be at most 1048576g")
            .optional(),
        mode: z
            .string({
                error: 'mode must be a quoted string of octal digits, e.g. "1777": YAML reads a number such as 0755 as octal and changes its meaning',
            })
            .regex(/^[0-7]{3,4}$/, 'mode must be octal digits, e.g. "1777" or "700"')
            .optional(),
    })
    .superRefine((m, ctx) => {
        const forbidden: Record<string, string[]> = {
            volume: ["source", "propagation", "allowDangerous", "createHostPath", "size", "mode"],
            bind: ["volume", "subpath", "noCopy", "size", "mode"],
            tmpfs: ["volume", "source", "subpath", "noCopy", "propagation", "allowDangerous", "createHostPath", "readOnly"],
        };
        for (const field of Object.hasOwn(forbidden, m.type) ? forbidden[m.type] : []) {
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
    internal: integer(1, 65535),
    external: integer(1, 65535).optional(),
    ip: z.string().min(1).optional(),
    protocol: z.enum(["tcp", "udp"], { error: 'protocol must be "tcp" or "udp"' }).optional(),
});

const healthcheckSchema = z.strictObject({
    test: z.array(z.string()).min(1, 'test needs a command, e.g. ["CMD-SHELL", "pg_isready"]'),
    interval: z.string().regex(duration, 'interval must be a duration like "10s"').optional(),
    timeout: z.string().regex(duration, 'timeout must be a duration like "5s"').optional(),
    retries: integer(0, 1000).optional(),
    startPeriod: z.string().regex(duration, 'startPeriod must be a duration like "30s"').optional(),
});

/** A string, or a Pulumi Output/Promise of one (env values may be secrets). */
const inputString = z.union(
    [z.string(), z.custom<Exclude<pulumi.Input<string>, string>>((v) => pulumi.Output.isInstance(v) || v instanceof Promise)],
    {
        error: "must be a string",
    },
);

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
    memoryMb: integer(6, 1048576, " (MiB; Docker's minimum is 6)").optional(),
});

const keyed = <T extends z.ZodType>(schema: T, what: string) =>
    z.record(z.string().regex(keyPattern, `invalid ${what} key: use [a-zA-Z0-9_-], starting with a letter or digit`), schema);

/** The five cron fields busybox crond reads, with their ranges. */
const cronFields = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12 },
    { name: "day of week", min: 0, max: 6, hint: " (0 is Sunday)" },
];

/**
 * Problems of a 5-field cron expression, field by field: `*`, `n`, `a-b`,
 * lists and `/step`, every number within its field's range. A schedule that
 * crond would reject or never fire (`99 * * * *`) is refused at deploy time.
 */
export function cronProblems(expression: string): string[] {
    const fields = expression.trim().split(/[ \t]+/);
    if (/[\r\n]/.test(expression) || fields.length !== 5) {
        return [
            `must be a 5-field cron expression on one line (minute hour day-of-month month day-of-week, UTC), e.g. "15 3 * * *"; got "${expression}"`,
        ];
    }
    const problems: string[] = [];
    fields.forEach((field, i) => {
        const { name, min, max, hint = "" } = cronFields[i];
        const bad = (why: string) => problems.push(`${name} field "${field}": ${why}`);
        for (const part of field.split(",")) {
            const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
            if (!match) {
                bad(`use *, a number, a range a-b, a list a,b or a step */n (${min}-${max}${hint})`);
                return;
            }
            const [, , from, to, step] = match;
            for (const n of [from, to].filter((v) => v !== undefined).map(Number)) {
                if (n < min || n > max) {
                    bad(`${n} is out of range ${min}-${max}${hint}`);
                    return;
                }
            }
            if (to !== undefined && Number(to) < Number(from)) {
                bad(`range ${from}-${to} runs backwards`);
                return;
            }
            if (step !== undefined && (Number(step) < 1 || Number(step) > max - min + 1)) {
                bad(`step /${step} must be between 1 and ${max - min + 1}`);
                return;
            }
        }
    });
    return problems.length ? [`must be a valid 5-field cron expression: ${problems.join("; ")}; e.g. "15 3 * * *"`] : [];
}

const cronSchema = () =>
    z.string({ error: 'must be a 5-field cron expression (UTC), e.g. "15 3 * * *"' }).superRefine((c, ctx) => {
        for (const message of cronProblems(c)) {
            ctx.addIssue({ code: "custom", message });
        }
    });

/** Hook command words travel through crond and `eval`: a newline or NUL would split or cut them. */
// eslint-disable-next-line no-control-regex
const singleLine = /^[^\r\n\u0000]*$/;

const hookSchema = z.strictObject({
    container: z.string({ error: "container is required: the key of the container to run the command in" }),
    command: z
        .array(
            z
                .string()
                .regex(
                    singleLine,
                    "a command word must be one line: scheduled runs go through crond, where a newline breaks the command; join the lines with ; or && (or put the script in a file in the container)",
                ),
        )
        .min(1, 'command needs at least one word, e.g. ["sh", "-c", "pg_dump ..."]'),
    timeoutSeconds: integer(1, 86400, " (seconds)").optional(),
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
    schedule: cronSchema().optional(),
    onDeploy: z.boolean().optional(),
    onDestroy: z.boolean().optional(),
    keepLast: integer(0, 10000, "; 0 means no count limit").optional(),
    keepDays: integer(0, 36500, "; 0 means no age limit").optional(),
    lockTimeoutSeconds: integer(1, 86400, " (seconds)").optional(),
    consistency: keyed(consistencySchema, "consistency (volume)").optional(),
    dockerSocket: absolutePath("dockerSocket").optional(),
    restoreCommand: z.boolean().optional(),
    restic: z
        .strictObject({
            repository: z
                .string()
                .min(1, "repository must not be empty")
                .superRefine((repository, ctx) => {
                    const problem = repositoryProblem(repository);
                    if (problem) {
                        ctx.addIssue({ code: "custom", message: problem });
                    }
                })
                .optional(),
            password: inputString.optional(),
            keepDaily: integer(0, 10000, "; 0 means off").optional(),
            keepWeekly: integer(0, 10000, "; 0 means off").optional(),
            keepMonthly: integer(0, 10000, "; 0 means off").optional(),
            checkSchedule: cronSchema().optional(),
            checkSubset: z
                .string()
                .regex(
                    /^(0|\d+(\.\d+)?%|\d+\/\d+|\d+[KMGT])$/,
                    'checkSubset must be a percentage ("5%"), n/t ("1/7"), a size ("500M") or 0',
                )
                .refine((v) => {
                    const percent = /^(\d+(?:\.\d+)?)%$/.exec(v);
                    const fraction = /^(\d+)\/(\d+)$/.exec(v);
                    return percent
                        ? Number(percent[1]) > 0 && Number(percent[1]) <= 100
                        : fraction
                          ? Number(fraction[1]) >= 1 && Number(fraction[1]) <= Number(fraction[2])
                          : true;
                }, "checkSubset must be a percentage above 0% and at most 100%, or n/t with 1 <= n <= t")
                .optional(),
            network: nameField("network").optional(),
            sshKey: inputString.optional(),
            sshKnownHosts: z.string().optional(),
            env: z
                .record(
                    z
                        .string()
                        .regex(envName, "environment variable names use [A-Za-z0-9_]")
                        .refine(
                            (name) => !isReservedEnvName(name),
                            "this name is the engine's own (BACKUP_*, RESTORE_*, PDS_*, DOCKER_*, RESTIC_REPOSITORY, RESTIC_PASSWORD*, PATH...) and would override how the jobs run; use the matching restic setting instead",
                        ),
                    inputString.refine(
                        (v) => typeof v !== "string" || singleLine.test(v),
                        "must be one line: scheduled runs read the environment line by line",
                    ),
                )
                .optional(),
        })
        .optional(),
    diskUsage: z
        .strictObject({
            maxPercent: integer(1, 100, " (percent; the scripts compare whole percents)").optional(),
            maxVolumeSize: z
                .union([z.string(), z.number()])
                .transform((v) => String(v))
                .refine(
                    (v) => sizePattern.test(v),
                    'maxVolumeSize must be a positive number of bytes, optionally with k, m or g (e.g. "10g")',
                )
                .refine((v) => !sizePattern.test(v) || parseSize(v) <= maxSizeBytes, "maxVolumeSize must be at most 1048576g")
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

/** restic backends the engine supports, by the scheme that starts the repository string. */
export const resticBackends = ["sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone"];

/**
 * What is wrong with a restic repository string, or undefined. A local
 * repository must live on the backup target (`/backup/...`): anywhere else it
 * is inside the job container and gone when the job exits.
 */
export function repositoryProblem(repository: string): string | undefined {
    const scheme = /^([a-z0-9]+):/.exec(repository)?.[1];
    if (scheme === "local") {
        return `write a local repository as a path on the backup target, e.g. "/backup/restic" (without "local:")`;
    }
    if (scheme !== undefined && !resticBackends.includes(scheme)) {
        return `unknown restic backend "${scheme}:"; use a path on the backup target (/backup/restic) or one of ${resticBackends.map((b) => `${b}:`).join(", ")}`;
    }
    if (scheme === undefined && !(repository === "/backup" || repository.startsWith("/backup/"))) {
        return `a local repository must be on the backup target, under /backup (e.g. "/backup/restic"); "${repository}" would be inside the job container and lost when it exits`;
    }
    if (scheme === undefined && (repository.split("/").includes("..") || unsafePathCharacters.test(repository))) {
        return 'a local repository path must not contain "..", ",", ":", quotes or control characters';
    }
    if (/:\/\/[^/@]*:[^/@]*@/.test(repository)) {
        return "the repository URL carries a password, which would sit in plain text in the state and in docker inspect; remove it and pass the credentials through restic.env as secrets (e.g. RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD; in stack config envSecret: {RESTIC_REST_PASSWORD: <config key>} after pulumi config set --secret <config key> <password>)";
    }
    return undefined;
}

/** Environment names the backup jobs set or rely on themselves; restic.env may not override them. */
export function isReservedEnvName(name: string): boolean {
    return (
        /^(BACKUP|RESTORE|PDS|DOCKER|LD)_/.test(name) ||
        ["RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE", "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"].includes(
            name,
        ) ||
        ["RESTIC_CACHE_DIR", "RESTIC_SSH_KEY", "RESTIC_SSH_KNOWN_HOSTS", "RESTIC_FLAGS", "RESTIC_LOCK_POLL", "RESTIC_FAILURE"].includes(
            name,
        ) ||
        ["PATH", "HOME", "SHELL", "IFS", "ENV", "PS4", "CDPATH", "TMPDIR", "HOSTNAME", "PWD", "OLDPWD", "USER", "TZ"].includes(name)
    );
}

// One source of truth: the documented interfaces in types.ts are the source;
// this schema is checked against them at compile time. A field added to one
// and not the other, or a type the schema would not accept, fails
// `npm run typecheck` here, naming the pair.

/** Fields in A and not in B, and in B and not in A: `never` when both list the same fields. */
type FieldDifference<A, B> = Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>;
/** Compiles only when `T` is `never`. */
type ExpectNever<T extends never> = T;
type Input<S extends z.ZodType> = NonNullable<z.input<S>>;
type BackupInput = Input<typeof backupSchema>;

/** Every args type lists exactly the fields its schema validates. */
export type SchemaFieldsMatchTypes = [
    ExpectNever<FieldDifference<PersistentStackArgs, Input<typeof stackArgsObject>>>,
    ExpectNever<FieldDifference<VolumeSpec, Input<typeof volumeSchema>>>,
    ExpectNever<FieldDifference<ContainerSpec, Input<typeof containerSchema>>>,
    ExpectNever<FieldDifference<MountSpec, Input<typeof mountSchema>>>,
    ExpectNever<FieldDifference<PortSpec, Input<typeof portSchema>>>,
    ExpectNever<FieldDifference<HealthcheckSpec, Input<typeof healthcheckSchema>>>,
    ExpectNever<FieldDifference<NetworkSpec, NonNullable<Input<typeof stackArgsObject>["network"]>>>,
    ExpectNever<FieldDifference<ProtectionSpec, NonNullable<Input<typeof stackArgsObject>["protection"]>>>,
    ExpectNever<FieldDifference<BackupSpec, BackupInput>>,
    ExpectNever<FieldDifference<ResticSpec, NonNullable<BackupInput["restic"]>>>,
    ExpectNever<FieldDifference<DiskUsageSpec, NonNullable<BackupInput["diskUsage"]>>>,
    ExpectNever<FieldDifference<ConsistencySpec, Input<typeof consistencySchema>>>,
    ExpectNever<FieldDifference<HookSpec, Input<typeof hookSchema>>>,
    ExpectNever<FieldDifference<RestoreSpec, Input<typeof restoreSchema>>>,
];

/** Compiles only when `A` is assignable to `B`. */
type ExpectAssignable<A extends B, B> = A;

/**
 * The schema's input with its enums widened to string: types.ts keeps enums as
 * plain strings (the args must stay unions-free for other languages), the
 * schema names the allowed values.
 */
type Widened<T> = T extends string
    ? string
    : T extends { apply: unknown } | Promise<unknown>
      ? T
      : T extends Array<infer E>
        ? Array<Widened<E>>
        : T extends object
          ? { [K in keyof T]: Widened<T[K]> }
          : T;

/** Typed args are input the schema takes, and what it returns is typed args (no cast in between). */
export type SchemaTypesAgree = [
    ExpectAssignable<PersistentStackArgs, Widened<z.input<typeof stackArgsObject>>>,
    ExpectAssignable<z.output<typeof stackArgsObject>, PersistentStackArgs>,
];

/** The schema of {@link PersistentStackArgs}. */
export const stackArgsSchema = stackArgsObject.superRefine(checkCrossReferences);

/**
 * Host paths never bound without `allowDangerous`: exactly, or anything below
 * the `/*` ones. Checked on the path as Docker cleans it (`//var/run/./docker.sock`
 * is `/var/run/docker.sock`).
 */
export const dangerousHostPaths = [
    "/",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/var",
    "/var/lib",
    "/home",
    "/etc",
    // Credentials and what runs as root: passwords, sudo, ssh, cron, Docker's own config.
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/passwd",
    "/etc/group",
    "/etc/sudoers",
    "/etc/sudoers.d/*",
    "/etc/ssh/*",
    "/etc/ssl/private/*",
    "/etc/pam.d/*",
    "/etc/security/*",
    "/etc/cron.d/*",
    "/etc/crontab",
    "/etc/systemd/*",
    "/etc/docker/*",
    "/etc/containerd/*",
    "/boot/*",
    "/root/*",
    "/run/*",
    "/var/run/*",
    "/proc/*",
    "/sys/*",
    "/dev/*",
];

/**
 * A path cleaned the way Docker (Go's `filepath.Clean`) cleans it: repeated
 * slashes collapsed, `.` dropped, `..` resolved lexically, no trailing slash.
 */
export function cleanPath(path: string): string {
    const parts: string[] = [];
    for (const part of path.split("/")) {
        if (part === "" || part === ".") {
            continue;
        }
        if (part === "..") {
            parts.pop();
        } else {
            parts.push(part);
        }
    }
    return `/${parts.join("/")}`;
}

/** Whether binding `hostPath` could hand a container the host (or Docker itself). */
export function isDangerousHostPath(hostPath: string, dockerDataRoot = "/var/lib/docker"): boolean {
    const normalized = cleanPath(hostPath);
    const under = (root: string) => normalized === root || normalized.startsWith(`${root === "/" ? "" : root}/`);
    return (
        dangerousHostPaths.some((p) => (p.endsWith("/*") ? under(p.slice(0, -2)) : normalized === p)) ||
        // SSH keys and Docker client credentials, wherever they live.
        normalized.split("/").some((part) => part === ".ssh" || part === ".docker" || part === ".gnupg") ||
        /(^|\/)docker\.sock$/.test(normalized) ||
        under(cleanPath(dockerDataRoot))
    );
}

function checkCrossReferences(args: z.output<typeof stackArgsObject>, ctx: z.RefinementCtx): void {
    const declared = Object.keys(args.volumes ?? {});
    const dataRoot = args.dockerDataRoot ?? "/var/lib/docker";
    const hostPorts = new Map<string, string>();
    for (const [key, container] of Object.entries(args.containers ?? {})) {
        const path = ["containers", key];
        const targets = new Map<string, number>();
        (container.mounts ?? []).forEach((mount, i) => {
            const at = [...path, "mounts", i];
            const target = cleanPath(mount.target);
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
                    message: `binding "${mount.source}"${cleanPath(mount.source) === (mount.source.replace(/\/+$/, "") || "/") ? "" : ` (Docker reads it as "${cleanPath(mount.source)}")`} hands the container the host or Docker itself; bind a dedicated directory, or set allowDangerous: true if you mean it`,
                });
            }
        });
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
}

function checkBackup(args: z.output<typeof stackArgsObject>, declared: string[], ctx: z.RefinementCtx): void {
    const known = declared.length ? declared.join(", ") : "(none)";
    const backup = args.backup;
    if (backup) {
        if (Object.hasOwn(args.containers ?? {}, "backup")) {
            ctx.addIssue({
                code: "custom",
                path: ["containers", "backup"],
                message:
                    'the key "backup" belongs to the stack\'s backup container and its image when backup is configured; use another container key',
            });
        }
        const listed = new Map<string, number>();
        backup.volumes.forEach((key, i) => {
            if (!declared.includes(key)) {
                ctx.addIssue({ code: "custom", path: ["backup", "volumes", i], message: `unknown volume "${key}"; declared: ${known}` });
            } else if (listed.has(key)) {
                ctx.addIssue({
                    code: "custom",
                    path: ["backup", "volumes", i],
                    message: `"${key}" is already listed at backup.volumes[${listed.get(key)}]; list each volume once`,
                });
            }
            listed.set(key, i);
        });
        if (backup.volumes.length === 0 && (backup.onDestroy || backup.schedule !== undefined)) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "volumes"],
                message: `is empty, so the ${backup.onDestroy ? "final backup on destroy" : "schedule"} would back up nothing; list the volumes to back up (or drop ${backup.onDestroy ? "onDestroy" : "schedule"})`,
            });
        }
        if (backup.compression === "zstd" && backup.image === undefined && backup.engine !== "restic") {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "compression"],
                message:
                    'the default job images (busybox, docker CLI) have no zstd, so every run would fail; set backup.image to an image with zstd, or use compression: "gzip"',
            });
        }
        if (backup.engine === "restic" && backup.compression !== undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "compression"],
                message: "applies to the tar engine only (restic compresses on its own); remove it",
            });
        }
        if (backup.engine === "restic" && backup.restoreCommand) {
            ctx.addIssue({
                code: "custom",
                path: ["backup", "restoreCommand"],
                message:
                    "the restore command works with the tar engine only (restic restores go through restores in config), and it would hand the backup container the Docker socket for nothing; remove it",
            });
        }
        const sftp = backup.restic?.repository?.startsWith("sftp:") ?? false;
        for (const field of ["sshKey", "sshKnownHosts"] as const) {
            if (backup.restic?.[field] !== undefined && !sftp) {
                ctx.addIssue({
                    code: "custom",
                    path: ["backup", "restic", field],
                    message: `applies to sftp: repositories only; remove it, or set repository to sftp:user@host:/path`,
                });
            }
        }
        if (backup.engine === "restic" && backup.restic?.repository !== undefined && !isRemoteRepository(backup.restic.repository)) {
            if (backup.targetPath === undefined && backup.targetVolume === undefined) {
                ctx.addIssue({
                    code: "custom",
                    path: ["backup", "restic", "repository"],
                    message: "a local repository lives on the backup target: set targetPath or targetVolume",
                });
            }
        }
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
                    if (!Object.hasOwn(args.containers ?? {}, hook.container)) {
                        ctx.addIssue({
                            code: "custom",
                            path: [...at, phase, i, "container"],
                            message: `unknown container "${hook.container}"; declared: ${Object.keys(args.containers ?? {}).join(", ") || "(none)"}`,
                        });
                    }
                });
            }
        }
        if (backup.targetPath && isDangerousHostPath(backup.targetPath, args.dockerDataRoot ?? "/var/lib/docker")) {
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
        } else if (backup?.targetVolume === restore.volume) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "volume"],
                message: `"${restore.volume}" is the backup target (backup.targetVolume): restoring into it would replace every backup with one archive's contents; restore into another volume`,
            });
        } else if (Object.hasOwn(args.volumes ?? {}, restore.volume) && args.volumes?.[restore.volume]?.external) {
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
        const engine = backup?.engine ?? "tar";
        const snapshotId = /^[0-9a-f]{4,64}$/.test(restore.from);
        if (restore.from !== "latest" && engine === "tar" && snapshotId) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "from"],
                message: `"${restore.from}" looks like a restic snapshot id, but the engine is tar; use "latest" or an archive file name`,
            });
        }
        if (restore.from !== "latest" && engine === "restic" && !snapshotId) {
            ctx.addIssue({
                code: "custom",
                path: ["restores", i, "from"],
                message: `"${restore.from}" is an archive file name, but the engine is restic; use "latest" or a snapshot id (restic snapshots)`,
            });
        }
    });
}

/** Whether a restic repository string names a remote backend (`sftp:`, `rest:`, `s3:`...). */
export function isRemoteRepository(repository: string | undefined): boolean {
    const scheme = repository === undefined ? undefined : /^([a-z0-9]+):/.exec(repository)?.[1];
    return scheme !== undefined && resticBackends.includes(scheme);
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
            const known = knownFieldsAt(stackArgsObject, issue.path);
            for (const key of issue.keys) {
                const suggestion = didYouMean(key, known);
                problems.push(
                    `${formatPath([...issue.path, key])}: unknown field${suggestion ? ` (did you mean "${suggestion}"?)` : " (typo?)"}; remove it or check the config reference in README.md`,
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

/** The fields a strict object of `schema` accepts at `path`, or [] when it cannot tell. */
function knownFieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
    // zod's definitions: unwrap optional/pipe, step into objects, records and arrays.
    let node: any = schema;
    const unwrap = () => {
        while (node?._zod?.def && ["optional", "pipe", "default", "nullable"].includes(node._zod.def.type)) {
            node = node._zod.def.innerType ?? node._zod.def.in;
        }
    };
    for (const part of path) {
        unwrap();
        const def = node?._zod?.def;
        if (def?.type === "object") {
            node = Object.hasOwn(def.shape, part) ? def.shape[part as string] : undefined;
        } else if (def?.type === "record") {
            node = def.valueType;
        } else if (def?.type === "array") {
            node = def.element;
        } else {
            return [];
        }
    }
    unwrap();
    return node?._zod?.def?.type === "object" ? Object.keys(node._zod.def.shape) : [];
}

/** The closest of `known` to `key` (case, dashes and up to two edits ignored), if any is close. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
    const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
    let best: { name: string; distance: number } | undefined;
    for (const name of known) {
        const distance = squash(name) === squash(key) ? 0 : editDistance(squash(key), squash(name));
        if (distance <= Math.min(2, Math.floor(name.length / 3)) && (!best || distance < best.distance)) {
            best = { name, distance };
        }
    }
    return best?.name;
}

function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

/**
 * Paths of keys a JavaScript object cannot hold as plain data (`__proto__`):
 * they would be dropped silently or change an object's prototype.
 */
function prototypeKeys(value: unknown, path: PropertyKey[] = [], found: string[] = [], seen = new WeakSet<object>()): string[] {
    if (value === null || typeof value !== "object" || pulumi.Output.isInstance(value) || value instanceof Promise || seen.has(value)) {
        return found;
    }
    seen.add(value);
    for (const key of Object.keys(value)) {
        const at = [...path, Array.isArray(value) ? Number(key) : key];
        if (key === "__proto__") {
            found.push(`${formatPath(at)}: "__proto__" cannot be used as a key; rename it`);
        } else {
            prototypeKeys((value as Record<string, unknown>)[key], at, found, seen);
        }
    }
    return found;
}

/** What a value of the wrong type should have been, in YAML terms (zod's own message otherwise). */
function typeMessage(issue: z.core.$ZodRawIssue): string | undefined {
    if (issue.code !== "invalid_type") {
        return undefined;
    }
    const got =
        issue.input === null
            ? "null"
            : Array.isArray(issue.input)
              ? "a list"
              : typeof issue.input === "object"
                ? "a mapping"
                : typeof issue.input;
    const wanted: Record<string, string> = {
        object: "a mapping of fields (YAML `field: value`)",
        record: "a mapping (YAML `key: value`)",
        array: "a list (YAML `- item` or `[a, b]`)",
        string: "a string (quote it in YAML)",
        boolean: "true or false",
        number: "a number",
    };
    return Object.hasOwn(wanted, issue.expected) ? `must be ${wanted[issue.expected]}, got ${got}` : undefined;
}

/**
 * Validate component args. Returns them (with sizes and modes normalized to
 * strings) or throws a {@link ConfigError} listing every problem.
 */
export function validateStackArgs(args: unknown, where?: string): PersistentStackArgs {
    const unsafeKeys = prototypeKeys(args);
    if (unsafeKeys.length) {
        throw new ConfigError(unsafeKeys, where);
    }
    const result = stackArgsSchema.safeParse(args ?? {}, { error: typeMessage });
    if (!result.success) {
        throw new ConfigError(formatIssues(result.error), where);
    }
    return result.data;
}
