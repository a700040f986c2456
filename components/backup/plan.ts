// The plan of a stack's backup and restore jobs: pure data from validated args,
// tested without Pulumi. jobs.ts turns it into resources.
import type * as pulumi from "@pulumi/pulumi";
import { labelKeys, managedLabels, StackContext } from "../naming";
import { parseSize, StackPlan } from "../plan";
import type { BackupSpec, RestoreSpec } from "../types";

/** Default image of the backup jobs. */
export const defaultBackupImage = "busybox:1.37";

/** Default image of backup jobs that need the docker CLI (consistency hooks, restore command). */
export const defaultDockerCliImage = "docker:27-cli";

/** Where the Docker socket is mounted inside jobs that need it. */
export const socketPath = "/var/run/docker.sock";

/** Where things are mounted inside job containers. */
export const jobPaths = { sources: "/sources", target: "/backup", restore: "/restore" } as const;

/** A mount of a job container, in the docker provider's shape. */
export interface JobMount {
    type: "volume" | "bind";
    source: string;
    target: string;
    readOnly: boolean;
}

/** The backup configuration of a stack, resolved. */
export interface BackupPlan {
    /** Archive name prefix. */
    prefix: string;
    image: pulumi.Input<string>;
    pull: boolean;
    /** Docker name of the long-running backup container. */
    containerName: string;
    /** The volumes backed up, by key. */
    volumeKeys: string[];
    /** Source volumes, read-only, at /sources/<key>. */
    sourceMounts: JobMount[];
    /** The backup target at /backup (read-write for backups). */
    targetMount: JobMount;
    /** Key of the target volume, when the target is a declared volume. */
    targetVolumeKey?: string;
    /** Environment of every backup run. */
    env: Record<string, string>;
    /** The Docker socket, for jobs with consistency hooks or the restore command. */
    socketMount?: JobMount;
    /** Whether backup runs need the socket (consistency hooks). */
    hooks: boolean;
    /** Whether the backup container gets the socket for `restore`. */
    restoreCommand: boolean;
    /** Whether disk usage is measured at every deployment (diskUsage is configured). */
    measureUsage: boolean;
    schedule?: string;
    onDeploy: boolean;
    onDestroy: boolean;
    labels: Record<string, string>;
}

/** A restore job. */
export interface RestorePlan {
    volumeKey: string;
    volumeName: string;
    env: Record<string, string>;
    mounts: JobMount[];
    labels: Record<string, string>;
}

/** Plan the backup jobs of a stack, or undefined when it has none. */
export function planBackup(
    spec: BackupSpec | undefined,
    stack: StackPlan,
    ctx: StackContext,
    stackLabels?: Record<string, string>,
): BackupPlan | undefined {
    if (!spec) {
        return undefined;
    }
    const volumeName = (key: string) => {
        const volume = stack.volumes.find((v) => v.key === key);
        if (!volume) {
            throw new Error(`backup: unknown volume "${key}"`);
        }
        return volume.dockerName;
    };
    const prefix = spec.prefix ?? stack.namePrefix;
    const hookEnv = consistencyEnv(spec, stack);
    const hooks = Object.keys(hookEnv).length > 0;
    const restoreCommand = spec.restoreCommand ?? false;
    const targetMount: JobMount = spec.targetVolume
        ? { type: "volume", source: volumeName(spec.targetVolume), target: jobPaths.target, readOnly: false }
        : { type: "bind", source: spec.targetPath ?? "", target: jobPaths.target, readOnly: false };
    return {
        prefix,
        image: spec.image ?? (hooks || restoreCommand ? defaultDockerCliImage : defaultBackupImage),
        pull: spec.pull ?? true,
        containerName: `${stack.namePrefix}-backup`,
        volumeKeys: spec.volumes,
        sourceMounts: spec.volumes.map((key) => ({
            type: "volume",
            source: volumeName(key),
            target: `${jobPaths.sources}/${key}`,
            readOnly: true,
        })),
        targetMount,
        targetVolumeKey: spec.targetVolume,
        env: {
            BACKUP_PREFIX: prefix,
            BACKUP_SOURCES_DIR: jobPaths.sources,
            BACKUP_TARGET_DIR: jobPaths.target,
            BACKUP_VOLUMES: spec.volumes.join(" "),
            BACKUP_COMPRESSION: spec.compression ?? "gzip",
            BACKUP_KEEP_LAST: String(spec.keepLast ?? 7),
            BACKUP_KEEP_DAYS: String(spec.keepDays ?? 0),
            BACKUP_LOCK_TIMEOUT: String(spec.lockTimeoutSeconds ?? 300),
            ...usageEnv(spec),
            ...hookEnv,
        },
        socketMount:
            hooks || restoreCommand
                ? { type: "bind", source: spec.dockerSocket ?? socketPath, target: socketPath, readOnly: false }
                : undefined,
        hooks,
        restoreCommand,
        measureUsage: spec.diskUsage !== undefined,
        schedule: spec.schedule,
        onDeploy: spec.onDeploy ?? true,
        onDestroy: spec.onDestroy ?? false,
        labels: managedLabels(ctx, "backup", "backup", stackLabels),
    };
}

/** The environment of the consistency hooks (see scripts/hooks.sh). */
export function consistencyEnv(spec: BackupSpec, stack: StackPlan): Record<string, string> {
    const env: Record<string, string> = {};
    const stop: string[] = [];
    const pause: string[] = [];
    let hooks = 0;
    const containerName = (key: string) => stack.containers.find((c) => c.key === key)?.dockerName ?? key;
    for (const [volume, consistency] of Object.entries(spec.consistency ?? {})) {
        const mounting = stack.containers
            .filter((c) => c.mounts.some((m) => m.volumeKey === volume))
            .map((c) => `${volume}:${c.dockerName}`);
        if (consistency.stop) {
            stop.push(...mounting);
        }
        if (consistency.pause) {
            pause.push(...mounting);
        }
        for (const [phase, list] of [
            ["pre", consistency.preCommands],
            ["post", consistency.postCommands],
        ] as const) {
            for (const hook of list ?? []) {
                hooks += 1;
                env[`BACKUP_HOOK_${hooks}_VOLUME`] = volume;
                env[`BACKUP_HOOK_${hooks}_PHASE`] = phase;
                env[`BACKUP_HOOK_${hooks}_CONTAINER`] = containerName(hook.container);
                env[`BACKUP_HOOK_${hooks}_COMMAND`] = hook.command.map(shellQuote).join(" ");
                env[`BACKUP_HOOK_${hooks}_TIMEOUT`] = String(hook.timeoutSeconds ?? 300);
                env[`BACKUP_HOOK_${hooks}_ON_ERROR`] = hook.onError ?? "fail";
            }
        }
    }
    if (stop.length) {
        env.BACKUP_STOP = stop.join(" ");
    }
    if (pause.length) {
        env.BACKUP_PAUSE = pause.join(" ");
    }
    if (hooks) {
        env.BACKUP_HOOKS = String(hooks);
    }
    return env;
}

/** The environment of the disk-usage checks (see scripts/usage.sh). */
export function usageEnv(spec: BackupSpec): Record<string, string> {
    const usage = spec.diskUsage ?? {};
    return {
        ...(usage.maxPercent !== undefined ? { BACKUP_USAGE_MAX_PERCENT: String(usage.maxPercent) } : {}),
        ...(usage.maxVolumeSize !== undefined ? { BACKUP_USAGE_MAX_BYTES: String(parseSize(usage.maxVolumeSize)) } : {}),
        BACKUP_REFUSE_IF_NO_FIT: String(usage.refuseIfNoFit ?? true),
    };
}

/** Plan the restore jobs of a stack. */
export function planRestores(restores: RestoreSpec[] | undefined, backup: BackupPlan | undefined, stack: StackPlan): RestorePlan[] {
    if (!restores?.length) {
        return [];
    }
    if (!backup) {
        throw new Error("restores need backup.targetPath or backup.targetVolume");
    }
    return restores.map((restore) => {
        const volumeName = stack.volumes.find((v) => v.key === restore.volume)?.dockerName ?? "";
        return {
            volumeKey: restore.volume,
            volumeName,
            env: {
                BACKUP_PREFIX: restore.prefix ?? backup.prefix,
                BACKUP_TARGET_DIR: jobPaths.target,
                BACKUP_LOCK_TIMEOUT: backup.env.BACKUP_LOCK_TIMEOUT,
                RESTORE_VOLUME: restore.sourceVolume ?? restore.volume,
                RESTORE_FROM: restore.from,
                RESTORE_TARGET_DIR: jobPaths.restore,
                RESTORE_FORCE: String(restore.force ?? false),
            },
            mounts: [
                { type: "volume", source: volumeName, target: jobPaths.restore, readOnly: false },
                { ...backup.targetMount, readOnly: true },
            ],
            labels: { ...backup.labels, [labelKeys.key]: `restore-${restore.volume}` },
        };
    });
}

/** POSIX shell quoting of one word. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `docker run` command line of a one-shot job: no network, removed when
 * done, the job script bundle read from stdin (`sh -s`).
 */
export function dockerRunCommand(job: {
    image: string;
    env: Record<string, string>;
    mounts: JobMount[];
    labels: Record<string, string>;
    name?: string;
}): string {
    const args = ["docker", "run", "--rm", "-i", "--network", "none"];
    if (job.name) {
        args.push("--name", job.name);
    }
    for (const [k, v] of Object.entries(job.labels)) {
        args.push("--label", `${k}=${v}`);
    }
    for (const m of job.mounts) {
        args.push("--mount", `type=${m.type},source=${m.source},target=${m.target}${m.readOnly ? ",readonly" : ""}`);
    }
    for (const [k, v] of Object.entries(job.env).sort(([a], [b]) => a.localeCompare(b))) {
        args.push("--env", `${k}=${v}`);
    }
    args.push(job.image, "sh", "-s");
    return args.map(shellQuote).join(" ");
}
