// The table of the adversarial suite (test/unit/adversarial.test.ts) and the
// fake stack config it feeds loadStackArgs. Each case mutates a valid config
// into one that would hurt Docker, the job scripts or the user later, and
// names the error that must refuse it. Mocks run as project "persistent",
// stack "test": default Docker names are `persistent-test-<key>`.
import * as pulumi from "@pulumi/pulumi";
import { PersistentStack } from "../../components";
import type { ConfigSource } from "../../components/config/stackConfig";
import { recordProgram } from "./pulumiMocks";

/** Build a stack from one entry point under mocks: the error it threw (if any) and how many resources it registered. */
export async function attempt(build: () => PersistentStack): Promise<{ error: unknown; registered: number }> {
    let error: unknown;
    const rec = await recordProgram(() => {
        try {
            build();
        } catch (e) {
            error = e;
        }
    });
    return { error, registered: rec.resources.length };
}

/** Which entry point a case goes through: component args, stack YAML, or both. */
export type Entry = "args" | "yaml" | "both";

/** One adversarial case. */
export interface AdversarialCase {
    what: string;
    entry?: Entry;
    /** Turns the valid base config into the bad one (plain data: it is YAML too). */
    mutate: (c: any) => void;
    /** A fragment of the error: the path and the fix. Per entry when they differ. */
    expect: string | { args: string; yaml: string };
    /** YAML only: extra config keys, and which keys are secret. */
    yaml?: YamlExtras;
}

/** Extra keys of a fake stack config and the keys set with `--secret`. */
export interface YamlExtras {
    values?: Record<string, unknown>;
    secretKeys?: string[];
}

/** Sentinel for the restic password: a secret Output in args, `passwordSecret` of a secret key in YAML. */
export const resticPassword = "<restic password>";

/** A valid config with backups: volumes pgdata, uploads and backups; containers db and web. */

export function baseConfig(): any {
    return {
        volumes: { pgdata: {}, uploads: {}, backups: {} },
        containers: {
            db: { image: "postgres:16", mounts: [{ type: "volume", volume: "pgdata", target: "/var/lib/postgresql/data" }] },
            web: { image: "nginx:1.27", mounts: [{ type: "volume", volume: "uploads", target: "/uploads" }] },
        },
        backup: { volumes: ["pgdata", "uploads"], targetVolume: "backups", schedule: "15 3 * * *" },
    };
}

/**
 * A stack config as `pulumi.Config` would read it: every top-level field a key
 * (objects through JSON, as the engine passes them), plus `extras`.
 */
export function yamlSource(config: Record<string, unknown>, extras: YamlExtras = {}): ConfigSource {
    const values: Record<string, unknown> = { ...extras.values };
    for (const [key, value] of Object.entries(config)) {
        values[key] = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
    }
    const secretKeys = new Set(extras.secretKeys ?? []);
    const restic = (values.backup as { restic?: Record<string, unknown> } | undefined)?.restic;
    if (restic?.password === resticPassword) {
        delete restic.password;
        restic.passwordSecret = "resticPassword";
        values.resticPassword = "pw";
        secretKeys.add("resticPassword");
    }
    return {
        getObject: <T>(k: string) => (Object.hasOwn(values, k) ? (values[k] as T) : undefined),
        get: (k: string) =>
            Object.hasOwn(values, k) ? (typeof values[k] === "string" ? (values[k] as string) : JSON.stringify(values[k])) : undefined,
        requireSecret: (k: string) => pulumi.secret(String(values[k])),
        isSecret: (k: string) => secretKeys.has(k),
        keys: () => Object.keys(values),
    };
}

/** The expected error fragment of a case for one entry point. */
export function expectedFor(c: AdversarialCase, entry: "args" | "yaml"): string {
    return typeof c.expect === "string" ? c.expect : c.expect[entry];
}

type Config = any;
const bind = (c: Config, source: string, extra: Record<string, unknown> = {}) =>
    c.containers.web.mounts.push({ type: "bind", source, target: "/host", ...extra });
const hook = (c: Config, hookSpec: Record<string, unknown>) =>
    (c.backup.consistency = { pgdata: { preCommands: [{ container: "db", command: ["true"], ...hookSpec }] } });
const restic = (c: Config, settings: Record<string, unknown> = {}) => {
    c.backup.engine = "restic";
    c.backup.restic = { password: resticPassword, ...settings };
};
const dangerous = "hands the container the host or Docker itself";

/** Every case: integer ranges, cron, paths, names, prototype keys, unknown keys, secrets, impossible combinations. */
export const adversarialCases: AdversarialCase[] = [
    // Integers that reach shell arithmetic or Docker.
    ...(
        [
            ["keepDays 1e15 (overflows shell arithmetic)", "keepDays", 1e15, "backup.keepDays: must be an integer between 0 and 36500"],
            ["negative keepDays", "keepDays", -1, "backup.keepDays: must be an integer between 0 and 36500"],
            ["fractional keepDays", "keepDays", 1.5, "backup.keepDays: must be an integer between 0 and 36500"],
            ["keepDays as a string", "keepDays", "7", "backup.keepDays: must be an integer between 0 and 36500"],
            ["keepLast 1e9", "keepLast", 1e9, "backup.keepLast: must be an integer between 0 and 10000"],
            ["negative keepLast", "keepLast", -3, "backup.keepLast: must be an integer between 0 and 10000"],
            ["lockTimeoutSeconds 0", "lockTimeoutSeconds", 0, "backup.lockTimeoutSeconds: must be an integer between 1 and 86400"],
            ["lockTimeoutSeconds 1e12", "lockTimeoutSeconds", 1e12, "backup.lockTimeoutSeconds: must be an integer between 1 and 86400"],
        ] as const
    ).map(([what, field, value, expect]) => ({ what, mutate: (c: Config) => (c.backup[field] = value), expect })),
    { what: "keepLast NaN", entry: "args", mutate: (c) => (c.backup.keepLast = NaN), expect: "backup.keepLast: must be an integer" },
    {
        what: "keepDays Infinity",
        entry: "args",
        mutate: (c) => (c.backup.keepDays = Infinity),
        expect: "backup.keepDays: must be an integer between 0 and 36500",
    },
    {
        what: "a hook timeout of 1e10 seconds",
        mutate: (c) => hook(c, { timeoutSeconds: 1e10 }),
        expect: "backup.consistency.pgdata.preCommands[0].timeoutSeconds: must be an integer between 1 and 86400",
    },
    {
        what: "restic keepDaily 1e7",
        mutate: (c) => restic(c, { keepDaily: 1e7 }),
        expect: "backup.restic.keepDaily: must be an integer between 0 and 10000",
    },
    {
        what: "negative restic keepWeekly",
        mutate: (c) => restic(c, { keepWeekly: -1 }),
        expect: "backup.restic.keepWeekly: must be an integer",
    },
    {
        what: "fractional restic keepMonthly",
        mutate: (c) => restic(c, { keepMonthly: 2.5 }),
        expect: "backup.restic.keepMonthly: must be an integer",
    },
    {
        what: "memoryMb 1e12",
        mutate: (c) => (c.containers.db.memoryMb = 1e12),
        expect: "containers.db.memoryMb: must be an integer between 6 and 1048576",
    },
    { what: "memoryMb 0", mutate: (c) => (c.containers.db.memoryMb = 0), expect: "containers.db.memoryMb: must be an integer between 6" },
    {
        what: "port 0",
        mutate: (c) => (c.containers.web.ports = [{ internal: 0 }]),
        expect: "containers.web.ports[0].internal: must be an integer between 1 and 65535",
    },
    {
        what: "host port 65536",
        mutate: (c) => (c.containers.web.ports = [{ internal: 80, external: 65536 }]),
        expect: "containers.web.ports[0].external: must be an integer between 1 and 65535",
    },
    {
        what: "fractional port",
        mutate: (c) => (c.containers.web.ports = [{ internal: 80.5 }]),
        expect: "containers.web.ports[0].internal: must be an integer",
    },
    {
        what: "healthcheck retries 1e9",
        mutate: (c) => (c.containers.db.healthcheck = { test: ["CMD", "true"], retries: 1e9 }),
        expect: "containers.db.healthcheck.retries: must be an integer between 0 and 1000",
    },
    {
        what: "a healthcheck interval Docker cannot hold",
        mutate: (c) => (c.containers.db.healthcheck = { test: ["CMD", "true"], interval: "99999999999s" }),
        expect: "containers.db.healthcheck.interval: interval must be a duration",
    },
    {
        what: "a fractional maxPercent",
        mutate: (c) => (c.backup.diskUsage = { maxPercent: 85.5 }),
        expect: "backup.diskUsage.maxPercent: must be an integer between 1 and 100",
    },
    {
        what: "maxPercent 0",
        mutate: (c) => (c.backup.diskUsage = { maxPercent: 0 }),
        expect: "backup.diskUsage.maxPercent: must be an integer between 1 and 100",
    },
    {
        what: "maxPercent 101",
        mutate: (c) => (c.backup.diskUsage = { maxPercent: 101 }),
        expect: "backup.diskUsage.maxPercent: must be an integer between 1 and 100",
    },
    {
        what: "a maxVolumeSize beyond any disk",
        mutate: (c) => (c.backup.diskUsage = { maxVolumeSize: "99999999999g" }),
        expect: "backup.diskUsage.maxVolumeSize: maxVolumeSize must be at most 1048576g",
    },
    {
        what: "a tmpfs size beyond any memory",
        mutate: (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", size: "9999999999999g" }),
        expect: "containers.web.mounts[1].size: size must be at most 1048576g",
    },

    // Cron: all five fields, in range.
    ...(
        [
            ["99 * * * *", 'minute field "99": 99 is out of range 0-59'],
            ["* 24 * * *", 'hour field "24": 24 is out of range 0-23'],
            ["* * 0 * *", 'day of month field "0": 0 is out of range 1-31'],
            ["* * * 13 *", 'month field "13": 13 is out of range 1-12'],
            ["* * * * 7", 'day of week field "7": 7 is out of range 0-6 (0 is Sunday)'],
            ["*/0 * * * *", 'minute field "*/0": step /0 must be between 1 and 60'],
            ["5-1 * * * *", 'minute field "5-1": range 5-1 runs backwards'],
            ["1,2,x * * * *", 'minute field "1,2,x": use *, a number'],
            ["15 3 * *", "must be a 5-field cron expression on one line"],
            ["15 3 * * * *", "must be a 5-field cron expression on one line"],
            ["@daily", "must be a 5-field cron expression on one line"],
            ["15 3 * * *\n* * * * * rm -rf /backup", "must be a 5-field cron expression on one line"],
        ] as const
    ).map(([schedule, expect]) => ({
        what: `schedule ${JSON.stringify(schedule)}`,
        mutate: (c: Config) => (c.backup.schedule = schedule),
        expect: `backup.schedule: ${expect.startsWith("must") ? "" : "must be a valid 5-field cron expression: "}${expect}`,
    })),
    {
        what: "a restic check schedule of minute 60",
        mutate: (c) => restic(c, { checkSchedule: "60 * * * *" }),
        expect: 'backup.restic.checkSchedule: must be a valid 5-field cron expression: minute field "60"',
    },

    // Dangerous binds, as Docker cleans the path.
    ...(
        [
            "//var/run/docker.sock",
            "/var/run/./docker.sock",
            "/var/run//docker.sock/",
            "/run",
            "/run/containerd/containerd.sock",
            "/etc/shadow",
            "/etc//shadow",
            "/etc/sudoers.d/app",
            "/etc/ssh",
            "/root/.ssh",
            "/root",
            "/home/me/.ssh/id_ed25519",
            "/home/me/.docker/config.json",
            "/srv/app/docker.sock",
            "/var/lib/docker//volumes",
            "/var",
            "/boot/grub",
            "/dev/sda",
            "/proc/1/root",
            "/sys/fs/cgroup",
        ] as const
    ).map((source, i) => ({
        what: `a bind of ${source}`,
        mutate: (c: Config) => bind(c, source),
        expect:
            i < 2
                ? `containers.web.mounts[1].source: binding "${source}" (Docker reads it as`
                : `containers.web.mounts[1].source: binding "${source}"`,
    })),
    {
        what: "a bind of a custom data root written with a trailing dot",
        mutate: (c) => ((c.dockerDataRoot = "/srv/docker/"), bind(c, "/srv/docker/.")),
        expect: dangerous,
    },
    {
        what: "a backup target in /etc/ssh",
        mutate: (c) => ((c.backup.targetVolume = undefined), (c.backup.targetPath = "/etc/ssh")),
        expect: 'backup.targetPath: "/etc/ssh" is a system path',
    },
    {
        what: "a backup target of //",
        mutate: (c) => ((c.backup.targetVolume = undefined), (c.backup.targetPath = "//")),
        expect: 'backup.targetPath: "//" is a system path',
    },

    // Mount option injection through characters Docker's mount syntax splits on.
    ...(
        [
            [
                "a targetPath with ,source=/",
                (c: Config) => ((c.backup.targetVolume = undefined), (c.backup.targetPath = "/srv/backups,source=/")),
                'backup.targetPath: targetPath must not contain ","',
            ],
            [
                "a bind source with ,readonly=false",
                (c: Config) => bind(c, "/srv/x,readonly=false"),
                "containers.web.mounts[1].source: source must not contain",
            ],
            [
                "a bind source with a colon",
                (c: Config) => bind(c, "/srv/a:/etc"),
                "containers.web.mounts[1].source: source must not contain",
            ],
            ["a bind source with a quote", (c: Config) => bind(c, '/srv/"x'), "containers.web.mounts[1].source: source must not contain"],
            [
                "a mount target with a comma",
                (c: Config) => (c.containers.web.mounts[0].target = "/uploads,z"),
                "containers.web.mounts[0].target: target must not contain",
            ],
            [
                "a mount target with a newline",
                (c: Config) => (c.containers.web.mounts[0].target = "/up\nloads"),
                "containers.web.mounts[0].target: target must not contain",
            ],
            [
                "a dockerSocket with a colon",
                (c: Config) => (c.backup.dockerSocket = "/var/run/docker.sock:/x"),
                "backup.dockerSocket: dockerSocket must not contain",
            ],
            [
                "a dockerDataRoot with a comma",
                (c: Config) => (c.dockerDataRoot = "/var/lib/docker,x"),
                "dockerDataRoot: dockerDataRoot must not contain",
            ],
            [
                "a workingDir with a tab",
                (c: Config) => (c.containers.web.workingDir = "/srv/\tapp"),
                "containers.web.workingDir: workingDir must not contain",
            ],
        ] as const
    ).map(([what, mutate, expect]) => ({ what, mutate, expect })),

    // Final Docker names, including the ones the stack generates.
    {
        what: "a volume named like another volume's default name",
        mutate: (c) => (c.volumes.pgdata.name = "persistent-test-uploads"),
        expect: 'volumes.pgdata.name: volume name "persistent-test-uploads" is also volumes.uploads\'s',
    },
    {
        what: "two volumes with one explicit name",
        mutate: (c) => ((c.volumes.pgdata.name = "shared"), (c.volumes.uploads.name = "shared")),
        expect: 'volume name "shared" is also volumes.pgdata\'s',
    },
    {
        what: "an external volume named like a managed volume",
        mutate: (c) => (c.volumes.legacy = { external: true, name: "persistent-test-backups" }),
        expect: 'volumes.legacy.name: volume name "persistent-test-backups" is also volumes.backups\'s',
    },
    {
        what: "a container named like the backup container",
        mutate: (c) => (c.containers.web.name = "persistent-test-backup"),
        expect: 'containers.web.name: container name "persistent-test-backup" is also the backup container\'s',
    },
    {
        what: "a container keyed backup beside the backup container",
        mutate: (c) => (c.containers.backup = { image: "busybox:1.37" }),
        expect: 'containers.backup: the key "backup" belongs to the stack\'s backup container',
    },
    {
        what: "a container named like another container's default name",
        mutate: (c) => (c.containers.web.name = "persistent-test-db"),
        expect: 'containers.web.name: container name "persistent-test-db" is also containers.db\'s',
    },
    {
        what: "two containers with one explicit name",
        mutate: (c) => ((c.containers.db.name = "app"), (c.containers.web.name = "app")),
        expect: 'containers.web.name: container name "app" is also containers.db\'s',
    },
    {
        what: "an explicit volume name equal to a default under a custom prefix",
        mutate: (c) => ((c.namePrefix = "shop"), (c.volumes.backups.name = "shop-pgdata")),
        expect: 'volumes.backups.name: volume name "shop-pgdata" is also volumes.pgdata\'s',
    },

    // User keys that are also Object.prototype's.
    {
        what: "a hook in a container called toString",
        mutate: (c) => hook(c, { container: "toString" }),
        expect: 'backup.consistency.pgdata.preCommands[0].container: unknown container "toString"; declared: db, web',
    },
    {
        what: "a hook in a container called constructor",
        mutate: (c) => hook(c, { container: "constructor" }),
        expect: 'preCommands[0].container: unknown container "constructor"',
    },
    {
        what: "a mount of a volume called constructor",
        mutate: (c) => (c.containers.web.mounts[0].volume = "constructor"),
        expect: 'containers.web.mounts[0].volume: unknown volume "constructor"',
    },
    {
        what: "a backup of a volume called hasOwnProperty",
        mutate: (c) => c.backup.volumes.push("hasOwnProperty"),
        expect: 'backup.volumes[2]: unknown volume "hasOwnProperty"',
    },
    {
        what: "a restore into a volume called valueOf",
        mutate: (c) => (c.restores = [{ volume: "valueOf", from: "latest" }]),
        expect: 'restores[0].volume: unknown volume "valueOf"',
    },
    {
        what: "a backup target called toString",
        mutate: (c) => (c.backup.targetVolume = "toString"),
        expect: 'backup.targetVolume: unknown volume "toString"',
    },
    {
        what: "consistency of a volume called constructor",
        mutate: (c) => (c.backup.consistency = { constructor: { stop: true } }),
        expect: 'backup.consistency.constructor: volume "constructor" is not backed up',
    },
    {
        what: "a mount type of constructor",
        mutate: (c) => (c.containers.web.mounts[0].type = "constructor"),
        expect: 'containers.web.mounts[0].type: type must be "volume", "bind" or "tmpfs"',
    },
    {
        what: "a volume keyed __proto__",
        mutate: (c) => (c.volumes = JSON.parse('{"__proto__": {}, "pgdata": {}, "uploads": {}, "backups": {}}')),
        expect: 'volumes.__proto__: "__proto__" cannot be used as a key',
    },
    {
        what: "an env variable called __proto__",
        mutate: (c) => (c.containers.web.env = JSON.parse('{"__proto__": "x"}')),
        expect: 'containers.web.env.__proto__: "__proto__" cannot be used as a key',
    },
    {
        what: "a label called __proto__",
        mutate: (c) => (c.labels = JSON.parse('{"__proto__": "x"}')),
        expect: 'labels.__proto__: "__proto__" cannot be used as a key',
    },

    // Unknown keys at every level, with a did-you-mean.
    {
        what: "a top-level typo backups",
        mutate: (c) => ((c.backups = c.backup), delete c.backup),
        expect: { args: 'backups: unknown field (did you mean "backup"?)', yaml: 'backups: unknown config key (did you mean "backup"?)' },
    },
    {
        what: "a top-level typo container",
        mutate: (c) => (c.container = {}),
        expect: {
            args: 'container: unknown field (did you mean "containers"?)',
            yaml: 'container: unknown config key (did you mean "containers"?)',
        },
    },
    {
        what: "a top-level key in the wrong case (dockerhost)",
        mutate: (c) => (c.dockerhost = "tcp://x"),
        expect: {
            args: 'dockerhost: unknown field (did you mean "dockerHost"?)',
            yaml: 'dockerhost: unknown config key (did you mean "dockerHost"?)',
        },
    },
    {
        what: "backup.keeplast",
        mutate: (c) => (c.backup.keeplast = 3),
        expect: 'backup.keeplast: unknown field (did you mean "keepLast"?)',
    },
    {
        what: "backup.restic.pasword",
        mutate: (c) => restic(c, { pasword: "x" }),
        expect: 'backup.restic.pasword: unknown field (did you mean "password"?)',
    },
    {
        what: "mounts[0].readonly",
        mutate: (c) => (c.containers.web.mounts[0].readonly = true),
        expect: 'containers.web.mounts[0].readonly: unknown field (did you mean "readOnly"?)',
    },
    {
        what: "volumes.pgdata.retainondelete",
        mutate: (c) => (c.volumes.pgdata.retainondelete = false),
        expect: 'volumes.pgdata.retainondelete: unknown field (did you mean "retainOnDelete"?)',
    },
    {
        what: "a hook's timeout",
        mutate: (c) => hook(c, { timeout: 5 }),
        expect: "backup.consistency.pgdata.preCommands[0].timeout: unknown field",
    },
    {
        what: "restores[0].volumes",
        mutate: (c) => (c.restores = [{ volume: "pgdata", volumes: "x", from: "latest" }]),
        expect: 'restores[0].volumes: unknown field (did you mean "volume"?)',
    },
    {
        what: "backup.diskUsage.maxpercent",
        mutate: (c) => (c.backup.diskUsage = { maxpercent: 80 }),
        expect: 'backup.diskUsage.maxpercent: unknown field (did you mean "maxPercent"?)',
    },
    {
        what: "network.internl",
        mutate: (c) => (c.network = { internl: true }),
        expect: 'network.internl: unknown field (did you mean "internal"?)',
    },
    {
        what: "protection.protekt",
        mutate: (c) => (c.protection = { protekt: true }),
        expect: 'protection.protekt: unknown field (did you mean "protect"?)',
    },
    {
        what: "containers.web.healthcheck.intervall",
        mutate: (c) => (c.containers.web.healthcheck = { test: ["CMD", "true"], intervall: "5s" }),
        expect: 'containers.web.healthcheck.intervall: unknown field (did you mean "interval"?)',
    },
    {
        what: "containers.web.ports[0].extrnal",
        mutate: (c) => (c.containers.web.ports = [{ internal: 80, extrnal: 8080 }]),
        expect: 'containers.web.ports[0].extrnal: unknown field (did you mean "external"?)',
    },

    // Hook commands that must survive the cron path.
    {
        what: "a multi-line hook command",
        mutate: (c) => hook(c, { command: ["sh", "-c", "pg_dump -f /dump/a.sql\nsync"] }),
        expect: "backup.consistency.pgdata.preCommands[0].command[2]: a command word must be one line",
    },
    {
        what: "a hook command with a carriage return",
        mutate: (c) => hook(c, { command: ["sh", "-c", "sync\r"] }),
        expect: "preCommands[0].command[2]: a command word must be one line",
    },
    {
        what: "an empty hook command",
        mutate: (c) => hook(c, { command: [] }),
        expect: "preCommands[0].command: command needs at least one word",
    },

    // restic repositories.
    {
        what: "a relative restic repository",
        mutate: (c) => restic(c, { repository: "restic-repo" }),
        expect: "backup.restic.repository: a local repository must be on the backup target, under /backup",
    },
    {
        what: "a local restic repository outside the target",
        mutate: (c) => restic(c, { repository: "/tmp/restic" }),
        expect: 'backup.restic.repository: a local repository must be on the backup target, under /backup (e.g. "/backup/restic"); "/tmp/restic" would be inside the job container',
    },
    {
        what: "a local: restic repository",
        mutate: (c) => restic(c, { repository: "local:/backup/r" }),
        expect: 'backup.restic.repository: write a local repository as a path on the backup target, e.g. "/backup/restic" (without "local:")',
    },
    {
        what: "an unknown restic backend",
        mutate: (c) => restic(c, { repository: "ftp:host/x" }),
        expect: 'backup.restic.repository: unknown restic backend "ftp:"',
    },
    {
        what: "a repository URL with a password",
        mutate: (c) => restic(c, { repository: "rest:https://user:pa55@backup.example/app" }),
        expect: "backup.restic.repository: the repository URL carries a password",
    },
    {
        what: "a local repository escaping the target",
        mutate: (c) => restic(c, { repository: "/backup/../etc" }),
        expect: 'backup.restic.repository: a local repository path must not contain ".."',
    },
    {
        what: "a local repository without a target",
        mutate: (c) => (restic(c, { repository: "/backup/restic" }), delete c.backup.targetVolume),
        expect: "backup.restic.repository: a local repository lives on the backup target: set targetPath or targetVolume",
    },

    // restic.env: the engine's own variables are not the user's.
    ...[
        "RESTIC_REPOSITORY",
        "RESTIC_PASSWORD_COMMAND",
        "PATH",
        "BACKUP_HOOK_1_COMMAND",
        "DOCKER_HOST",
        "LD_PRELOAD",
        "HOME",
        "PDS_SECRET_1",
        "RESTORE_FROM",
    ].map((name) => ({
        what: `restic.env overriding ${name}`,
        mutate: (c: Config) => restic(c, { env: { [name]: "/tmp/x" } }),
        expect: `backup.restic.env.${name}: this name is the engine's own`,
    })),
    {
        what: "a restic.env value on two lines",
        mutate: (c) => restic(c, { env: { AWS_DEFAULT_REGION: "eu-west-1\nexport X=1" } }),
        expect: "backup.restic.env.AWS_DEFAULT_REGION: must be one line",
    },

    // Impossible combinations.
    {
        what: "a restore into the backup target volume (deletes every backup)",
        mutate: (c) => (c.restores = [{ volume: "backups", from: "latest" }]),
        expect: 'restores[0].volume: "backups" is the backup target (backup.targetVolume): restoring into it would replace every backup',
    },
    {
        what: "a volume listed twice in backup.volumes",
        mutate: (c) => c.backup.volumes.push("pgdata"),
        expect: 'backup.volumes[2]: "pgdata" is already listed at backup.volumes[0]; list each volume once',
    },
    {
        what: "volumes: [] with onDestroy",
        mutate: (c) => ((c.backup.volumes = []), delete c.backup.schedule, (c.backup.onDestroy = true)),
        expect: "backup.volumes: is empty, so the final backup on destroy would back up nothing",
    },
    {
        what: "volumes: [] with a schedule",
        mutate: (c) => (c.backup.volumes = []),
        expect: "backup.volumes: is empty, so the schedule would back up nothing",
    },
    {
        what: "zstd with the default image (no zstd in it)",
        mutate: (c) => (c.backup.compression = "zstd"),
        expect: "backup.compression: the default job images (busybox, docker CLI) have no zstd",
    },
    {
        what: "compression under the restic engine",
        mutate: (c) => (restic(c), (c.backup.compression = "gzip")),
        expect: "backup.compression: applies to the tar engine only",
    },
    {
        what: "a snapshot id under the tar engine",
        mutate: (c) => (c.restores = [{ volume: "pgdata", from: "4f2a9c1d" }]),
        expect: 'restores[0].from: "4f2a9c1d" looks like a restic snapshot id, but the engine is tar',
    },
    {
        what: "an archive name under the restic engine",
        mutate: (c) => (restic(c), (c.restores = [{ volume: "pgdata", from: "app-pgdata-20260101T000000Z.tar.gz" }])),
        expect: 'restores[0].from: "app-pgdata-20260101T000000Z.tar.gz" is an archive file name, but the engine is restic',
    },
    {
        what: "backing up the target into itself",
        mutate: (c) => c.backup.volumes.push("backups"),
        expect: "backup.targetVolume: a volume cannot be backed up into itself",
    },
    {
        what: "two restores into one volume",
        mutate: (c) =>
            (c.restores = [
                { volume: "pgdata", from: "latest" },
                { volume: "pgdata", from: "latest", force: true },
            ]),
        expect: 'restores[1].volume: volume "pgdata" is already restored by restores[0]',
    },
    {
        what: "stop and pause together",
        mutate: (c) => (c.backup.consistency = { pgdata: { stop: true, pause: true } }),
        expect: "backup.consistency.pgdata.pause: choose stop or pause, not both",
    },
    {
        what: "restic settings under the tar engine",
        mutate: (c) => (c.backup.restic = { keepDaily: 3 }),
        expect: 'backup.restic: restic settings need engine: "restic"',
    },
    {
        what: "the restore command under the restic engine (the socket for nothing)",
        mutate: (c) => (restic(c), (c.backup.restoreCommand = true)),
        expect: "backup.restoreCommand: the restore command works with the tar engine only",
    },
    {
        what: "an SSH key for a repository that is not sftp:",
        mutate: (c) => restic(c, { repository: "s3:s3.amazonaws.com/b", sshKey: "key" }),
        expect: { args: "backup.restic.sshKey: applies to sftp: repositories only", yaml: "backup.restic.sshKey: a plain-text SSH key" },
    },
    {
        what: "known hosts for a local repository",
        mutate: (c) => restic(c, { sshKnownHosts: "h ssh-ed25519 AAAA" }),
        expect: "backup.restic.sshKnownHosts: applies to sftp: repositories only",
    },
    {
        what: "both a target path and a target volume",
        mutate: (c) => (c.backup.targetPath = "/srv/backups"),
        expect: "backup: set exactly one of targetPath",
    },

    // Formats.
    {
        what: "a tmpfs mode given as a number",
        mutate: (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", mode: 493 }),
        expect: 'containers.web.mounts[1].mode: mode must be a quoted string of octal digits, e.g. "1777"',
    },
    {
        what: "a non-octal tmpfs mode",
        mutate: (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", mode: "8888" }),
        expect: "containers.web.mounts[1].mode: mode must be octal digits",
    },
    ...(["0%", "150%", "8/7", "0/5"] as const).map((subset) => ({
        what: `checkSubset ${subset}`,
        mutate: (c: Config) => restic(c, { checkSubset: subset }),
        expect: "backup.restic.checkSubset: checkSubset must be a percentage above 0% and at most 100%, or n/t with 1 <= n <= t",
    })),
    {
        what: "a volume name with a space",
        mutate: (c) => (c.volumes.pgdata.name = "pg data"),
        expect: "volumes.pgdata.name: invalid volume name",
    },
    {
        what: "a container name starting with a dash",
        mutate: (c) => (c.containers.db.name = "-db"),
        expect: "containers.db.name: invalid container name",
    },
    { what: "a network name with a comma", mutate: (c) => (c.network = { name: "a,b" }), expect: "network.name: invalid network name" },
    { what: "a one-character prefix", mutate: (c) => (c.namePrefix = "x"), expect: "namePrefix: invalid prefix name" },
    { what: "a volume key with a dot", mutate: (c) => (c.volumes["pg.data"] = {}), expect: "volumes.pg.data: invalid volume key" },
    {
        what: "an archive prefix with a slash",
        mutate: (c) => (c.backup.prefix = "a/b"),
        expect: "backup.prefix: invalid archive prefix name",
    },
    {
        what: "a restore from a path",
        mutate: (c) => (c.restores = [{ volume: "pgdata", from: "../../etc/passwd" }]),
        expect: 'restores[0].from: from must be "latest", an archive file name',
    },

    // Wrong types, said in YAML terms.
    {
        what: "volumes as a list",
        mutate: (c) => (c.volumes = ["pgdata"]),
        expect: "volumes: must be a mapping (YAML `key: value`), got a list",
    },
    {
        what: "mounts as a mapping",
        mutate: (c) => (c.containers.web.mounts = { uploads: "/uploads" }),
        expect: "containers.web.mounts: must be a list (YAML `- item` or `[a, b]`), got a mapping",
    },
    {
        what: "a volume name given as a number",
        mutate: (c) => (c.volumes.pgdata.name = 5),
        expect: "volumes.pgdata.name: must be a string (quote it in YAML), got number",
    },
    {
        what: "external given as a string",
        mutate: (c) => (c.volumes.pgdata.external = "yes"),
        expect: "volumes.pgdata.external: must be true or false, got string",
    },
    {
        what: "backup as a string",
        mutate: (c) => (c.backup = "daily"),
        expect: "backup: must be a mapping of fields (YAML `field: value`), got string",
    },

    // Secrets in stack YAML (the YAML entry point only).
    {
        what: "a plain-text restic password",
        entry: "yaml",
        mutate: (c) => restic(c, { password: "hunter2" }),
        expect: "backup.restic.password: a plain-text password in the stack file is stored unencrypted (in git and the state); run: pulumi config set --secret resticPassword <password>",
    },
    {
        what: "a plain-text SSH key",
        entry: "yaml",
        mutate: (c) => restic(c, { repository: "sftp:u@h:/r", sshKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }),
        expect: "backup.restic.sshKey: a plain-text SSH key in the stack file is stored unencrypted",
    },
    {
        what: "a plain-text backend secret in restic.env",
        entry: "yaml",
        mutate: (c) => restic(c, { env: { AWS_SECRET_ACCESS_KEY: "abc" } }),
        expect: "backup.restic.env.AWS_SECRET_ACCESS_KEY: a credential in plain text in the stack file is stored unencrypted; run: pulumi config set --secret awsSecretAccessKey <value>, then move it to backup.restic.envSecret",
    },
    {
        what: "a passwordSecret naming a key stored in plain text",
        entry: "yaml",
        mutate: (c) => restic(c, { password: undefined, passwordSecret: "plainPw" }),
        yaml: { values: { plainPw: "pw" } },
        expect: 'backup.restic.passwordSecret: config key "plainPw" is stored in plain text in the stack file; run: pulumi config set --secret plainPw <password>',
    },
    {
        what: "a secretEnv naming a key stored in plain text",
        entry: "yaml",
        mutate: (c) => (c.containers.db.secretEnv = { POSTGRES_PASSWORD: "dbPw" }),
        yaml: { values: { dbPw: "pw" } },
        expect: 'containers.db.secretEnv.POSTGRES_PASSWORD: config key "dbPw" is stored in plain text in the stack file; run: pulumi config set --secret dbPw <value>',
    },
    {
        what: "a secretEnv naming a key that is not set",
        entry: "yaml",
        mutate: (c) => (c.containers.db.secretEnv = { POSTGRES_PASSWORD: "dbPw" }),
        expect: 'containers.db.secretEnv.POSTGRES_PASSWORD: config key "dbPw" is not set; run: pulumi config set --secret dbPw <value>',
    },
    {
        what: "an envSecret naming a key that is not set",
        entry: "yaml",
        mutate: (c) => restic(c, { repository: "s3:h/b", envSecret: { AWS_SECRET_ACCESS_KEY: "aws" } }),
        expect: 'backup.restic.envSecret.AWS_SECRET_ACCESS_KEY: config key "aws" is not set; run: pulumi config set --secret aws <value>',
    },
    {
        what: "an envSecret also set in env",
        entry: "yaml",
        mutate: (c) => restic(c, { env: { B2_ACCOUNT_ID: "x" }, envSecret: { B2_ACCOUNT_ID: "b2" } }),
        yaml: { values: { b2: "id" }, secretKeys: ["b2"] },
        expect: "backup.restic.envSecret.B2_ACCOUNT_ID: B2_ACCOUNT_ID is also set in env; set it in one place",
    },
    {
        what: "volumes set as a secret (Docker shows names in plain text)",
        entry: "yaml",
        mutate: () => undefined,
        yaml: { secretKeys: ["volumes"] },
        expect: "volumes: set as a secret, but it becomes Docker names, labels or paths that Docker shows in plain text",
    },
    {
        what: "namePrefix set as a secret",
        entry: "yaml",
        mutate: (c) => (c.namePrefix = "shop"),
        yaml: { secretKeys: ["namePrefix"] },
        expect: "namePrefix: set as a secret",
    },
    {
        what: "a top-level typo persistent-docker:backups (no backups at all otherwise)",
        entry: "yaml",
        mutate: (c) => ((c.backupz = c.backup), delete c.backup),
        expect: 'backupz: unknown config key (did you mean "backup"?)',
    },
    {
        what: "an unused top-level key",
        entry: "yaml",
        mutate: () => undefined,
        yaml: { values: { replicas: 3 } },
        expect: "replicas: unknown config key; the program reads namePrefix, volumes",
    },
];
