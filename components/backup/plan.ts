// The plan of a stack's backup and restore jobs: pure data from validated args,
// tested without Pulumi. jobs.ts turns it into resources.
import type * as pulumi from "@pulumi/pulumi";
import { labelKeys, managedLabels, StackContext } from "../naming";
import { parseSize, StackPlan } from "../plan";
import type { BackupSpec, RestoreSpec } from "../types";
import { HealthPlan, planHealth } from "./health";

/** Default image of the backup jobs. */
export const defaultBackupImage = "busybox:1.37";

/** Default image of backup jobs that need the docker CLI (consistency hooks, restore command). */
export const defaultDockerCliImage = "docker:27-cli";

/** Default image of the restic engine: the official image, pinned. */
export const defaultResticImage = "restic/restic:0.18.0";

/** Where secret files live inside job containers. */
export const secretPaths = {
    resticPassword: "/run/pds/restic-password",
    sshKey: "/run/pds/ssh/id_ed25519",
    knownHosts: "/run/pds/ssh/known_hosts",
    /** Directory of the notification URLs, one file per target: `<dir>/<i>`. */
    notify: "/run/pds/notify",
} as const;

/** The scripts an engine runs for each job. */
export interface EngineScripts {
    backup: string;
    restore: string;
    check: string;
}

/** Scripts of each engine. */
export const engineScripts: Record<string, EngineScripts> = {
    tar: { backup: "backup.sh", restore: "restore.sh", check: "verify.sh" },
    restic: { backup: "restic-backup.sh", restore: "restic-restore.sh", check: "restic-check.sh" },
};

/** A secret written to a file inside a job container. */
export interface SecretFile {
    path: string;
    content: pulumi.Input<string>;
}

/** Where the Docker socket is mounted inside jobs that need it. */
export const socketPath = "/var/run/docker.sock";

/** Where things are mounted inside job containers. */
export const jobPaths = { sources: "/sources", target: "/backup", restore: "/restore", metrics: "/metrics" } as const;

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
    targetMount?: JobMount;
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
    /** `tar` or `restic`. */
    engine: string;
    /** The engine's scripts. */
    scripts: EngineScripts;
    /** Network of the jobs: `none`, or the network a remote restic repository is reached through. */
    network: string;
    /** Network of the restore jobs: the one a remote restic repository is reached through, else `none`. */
    repositoryNetwork: string;
    /** Secrets the jobs get as files (restic password, SSH key, notification URLs). */
    secretFiles: SecretFile[];
    /** Extra environment (restic backend credentials); values may be secrets. */
    secretEnv: Record<string, pulumi.Input<string>>;
    schedule?: string;
    /** The notification URLs as secret files (also in secretFiles). */
    notifyFiles: SecretFile[];
    /** The backup container's healthcheck: maxAge and check interval. */
    health: HealthPlan;
    /** Where the metrics file is written (/metrics), when metrics are on. */
    metricsMount?: JobMount;
    /** Key of the metrics volume, when metrics go to a declared volume. */
    metricsVolumeKey?: string;
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
    const engine = spec.engine ?? "tar";
    const restic = engine === "restic" ? resticSettings(spec) : undefined;
    const hookEnv = consistencyEnv(spec, stack);
    const hooks = Object.keys(hookEnv).length > 0;
    const restoreCommand = spec.restoreCommand ?? false;
    const monitoring = monitoringSettings(spec, stack, volumeName, restic?.network ?? "none");
    const targetMount: JobMount | undefined = spec.targetVolume
        ? { type: "volume", source: volumeName(spec.targetVolume), target: jobPaths.target, readOnly: false }
        : spec.targetPath
          ? { type: "bind", source: spec.targetPath, target: jobPaths.target, readOnly: false }
          : undefined;
    return {
        prefix,
        image:
            spec.image ?? (engine === "restic" ? defaultResticImage : hooks || restoreCommand ? defaultDockerCliImage : defaultBackupImage),
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
            ...(restic?.env ?? {}),
            ...monitoring.env,
            ...(targetMount ? {} : { BACKUP_STATUS_DIR: `/var/lib/pds/status/${prefix}` }),
        },
        socketMount:
            hooks || restoreCommand
                ? { type: "bind", source: spec.dockerSocket ?? socketPath, target: socketPath, readOnly: false }
                : undefined,
        hooks,
        restoreCommand,
        measureUsage: spec.diskUsage !== undefined,
        engine,
        scripts: engineScripts[engine],
        network: monitoring.network,
        repositoryNetwork: restic?.network ?? "none",
        secretFiles: [...(restic?.secretFiles ?? []), ...monitoring.notifyFiles],
        secretEnv: spec.restic?.env ?? {},
        schedule: spec.schedule,
        notifyFiles: monitoring.notifyFiles,
        health: monitoring.health,
        metricsMount: monitoring.metricsMount,
        metricsVolumeKey: spec.metrics?.volume,
        onDeploy: spec.onDeploy ?? true,
        onDestroy: spec.onDestroy ?? false,
        labels: managedLabels(ctx, "backup", "backup", stackLabels),
    };
}

/**
 * Notifications, health and metrics: their environment (see
 * scripts/run-job.sh, notify.sh, status.sh), the URL files, the metrics mount,
 * and the jobs' network: the restic one, else the one the targets are reached
 * through (validation made them agree), else none.
 */
export function monitoringSettings(
    spec: BackupSpec,
    stack: StackPlan,
    volumeName: (key: string) => string,
    resticNetwork: string,
): { env: Record<string, string>; notifyFiles: SecretFile[]; network: string; health: HealthPlan; metricsMount?: JobMount } {
    const targets = spec.notify ?? [];
    const health = planHealth(spec.maxAge, spec.schedule);
    const env: Record<string, string> = { BACKUP_STACK_NAME: stack.namePrefix, BACKUP_MAX_AGE: String(health.maxAgeSeconds) };
    if (targets.length) {
        env.BACKUP_NOTIFY_COUNT = String(targets.length);
    }
    targets.forEach((target, i) => {
        env[`BACKUP_NOTIFY_${i + 1}_FORMAT`] = target.format ?? "auto";
        env[`BACKUP_NOTIFY_${i + 1}_ON`] = target.on ?? "failure";
    });
    const metricsMount: JobMount | undefined = spec.metrics?.volume
        ? { type: "volume", source: volumeName(spec.metrics.volume), target: jobPaths.metrics, readOnly: false }
        : spec.metrics?.hostPath
          ? { type: "bind", source: spec.metrics.hostPath, target: jobPaths.metrics, readOnly: false }
          : undefined;
    if (metricsMount) {
        env.BACKUP_METRICS_DIR = jobPaths.metrics;
    }
    return {
        env,
        notifyFiles: targets.map((target, i) => ({ path: `${secretPaths.notify}/${i + 1}`, content: target.url })),
        network: resticNetwork !== "none" ? resticNetwork : (targets[0]?.network ?? (targets.length ? "bridge" : "none")),
        health,
        metricsMount,
    };
}

/** Environment, network and secret files of the restic engine. */
function resticSettings(spec: BackupSpec): { env: Record<string, string>; network: string; secretFiles: SecretFile[] } {
    const restic = spec.restic ?? {};
    const remote = restic.repository !== undefined && /^[a-z0-9]+:/.test(restic.repository);
    const secretFiles: SecretFile[] = [];
    if (restic.password !== undefined) {
        secretFiles.push({ path: secretPaths.resticPassword, content: restic.password });
    }
    if (restic.sshKey !== undefined) {
        secretFiles.push({ path: secretPaths.sshKey, content: restic.sshKey });
    }
    if (restic.sshKnownHosts !== undefined) {
        secretFiles.push({ path: secretPaths.knownHosts, content: restic.sshKnownHosts });
    }
    if (restic.sshKey !== undefined) {
        // Not a secret, but every job needs it beside the key.
        secretFiles.push({ path: "/etc/ssh/ssh_config", content: sshConfig(restic.sshKnownHosts !== undefined) });
    }
    return {
        env: {
            BACKUP_ENGINE: "restic",
            RESTIC_REPOSITORY: restic.repository ?? `${jobPaths.target}/restic`,
            RESTIC_PASSWORD_FILE: secretPaths.resticPassword,
            RESTIC_CACHE_DIR: "/tmp/restic-cache",
            BACKUP_KEEP_DAILY: String(restic.keepDaily ?? 0),
            BACKUP_KEEP_WEEKLY: String(restic.keepWeekly ?? 0),
            BACKUP_KEEP_MONTHLY: String(restic.keepMonthly ?? 0),
            BACKUP_CHECK_SUBSET: restic.checkSubset ?? "5%",
            ...(restic.checkSchedule ? { BACKUP_CHECK_SCHEDULE: restic.checkSchedule } : {}),
            ...(restic.sshKey !== undefined ? { RESTIC_SSH_KEY: secretPaths.sshKey } : {}),
            ...(restic.sshKnownHosts !== undefined ? { RESTIC_SSH_KNOWN_HOSTS: secretPaths.knownHosts } : {}),
        },
        network: restic.network ?? (remote ? "bridge" : "none"),
        secretFiles,
    };
}

/** The ssh client configuration of an sftp: repository (see ResticSpec.sshKey). */
export function sshConfig(hasKnownHosts: boolean): string {
    return [
        "Host *",
        `    IdentityFile ${secretPaths.sshKey}`,
        "    IdentitiesOnly yes",
        "    BatchMode yes",
        hasKnownHosts ? "    StrictHostKeyChecking yes" : "    StrictHostKeyChecking accept-new",
        `    UserKnownHostsFile ${hasKnownHosts ? secretPaths.knownHosts : "/tmp/known_hosts"}`,
        "    ConnectTimeout 10",
        "",
    ].join("\n");
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
                // The restic engine's repository settings.
                ...Object.fromEntries(Object.entries(backup.env).filter(([k]) => k.startsWith("RESTIC_"))),
            },
            mounts: [
                { type: "volume", source: volumeName, target: jobPaths.restore, readOnly: false },
                // restic locks the repository even to restore: only tar archives are read-only here.
                ...(backup.targetMount ? [{ ...backup.targetMount, readOnly: backup.engine !== "restic" }] : []),
            ],
            labels: { ...backup.labels, [labelKeys.key]: `restore-${restore.volume}` },
        };
    });
}

/** POSIX shell quoting of one word. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A one-shot job's `docker run`, as data. */
export interface DockerRun {
    image: string;
    env: Record<string, string>;
    mounts: JobMount[];
    labels: Record<string, string>;
    /** `none` (default) or the network the job joins. */
    network?: string;
    /** Variables passed through from the caller's environment by name (secret values stay out of argv). */
    passEnv?: string[];
    /** Files the job writes from the first lines of its stdin (base64), before the script bundle. */
    secretPaths?: string[];
}

/**
 * The `docker run` command line of a one-shot job: removed when done, the job
 * script bundle read from stdin (`sh -s`). With secret files, the first stdin
 * lines are their base64 contents, written (mode 600) before the bundle runs.
 */
export function dockerRunCommand(job: DockerRun): string {
    // --pull never: the image is pulled (or not, `pull: false`) by a RemoteImage
    // resource before any job runs; a job never reaches a registry itself.
    const args = ["docker", "run", "--rm", "-i", "--pull", "never", "--network", job.network ?? "none"];
    for (const [k, v] of Object.entries(job.labels)) {
        args.push("--label", `${k}=${v}`);
    }
    for (const m of job.mounts) {
        // Binds go through -v, which creates a missing host directory (a fresh backup target).
        if (m.type === "bind") {
            args.push("--volume", `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`);
        } else {
            args.push("--mount", `type=${m.type},source=${m.source},target=${m.target}${m.readOnly ? ",readonly" : ""}`);
        }
    }
    for (const [k, v] of Object.entries(job.env).sort(([a], [b]) => a.localeCompare(b))) {
        args.push("--env", `${k}=${v}`);
    }
    for (const name of job.passEnv ?? []) {
        args.push("--env", name);
    }
    // The entrypoint is sh whatever the image's is (the restic image's is restic).
    args.push("--entrypoint", "sh", job.image);
    if (job.secretPaths?.length) {
        args.push("-c", secretReader(job.secretPaths));
    } else {
        args.push("-s");
    }
    return args.map(shellQuote).join(" ");
}

/** The shell program that writes secret files from stdin lines, then runs the rest of stdin. */
export function secretReader(paths: string[]): string {
    return [
        "set -eu",
        "umask 077",
        `for f in ${paths.join(" ")}; do IFS= read -r line; mkdir -p "$(dirname "$f")"; printf %s "$line" | base64 -d > "$f"; done`,
        "exec sh -s",
    ].join("; ");
}
