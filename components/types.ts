// The component's argument types. They are plain objects, arrays and maps of
// `Input<T>` values (no unions, no functions) so the component can also ship as
// a source-based Pulumi package usable from Python, Go and C#. Fields that shape
// the resource graph (keys, mount types, volume references) are plain values:
// a graph cannot depend on values only known after deployment.
import * as pulumi from "@pulumi/pulumi";

/** Arguments of a {@link PersistentStack}. */
export interface PersistentStackArgs {
    /**
     * Prefix of every Docker object name the stack manages. Default
     * `<project>-<stack>`, so a re-provisioned stack re-attaches to the same
     * volumes.
     */
    namePrefix?: string;
    /** Named volumes, by key. The key is how mounts refer to a volume. */
    volumes?: { [key: string]: VolumeSpec };
    /** Containers, by key. Each joins the stack's private network. */
    containers?: { [key: string]: ContainerSpec };
    /** The stack's private network. */
    network?: NetworkSpec;
    /** Data protection defaults for every declared volume. */
    protection?: ProtectionSpec;
    /** Extra labels put on every volume, container and network the stack manages. */
    labels?: { [key: string]: string };
    /**
     * Host paths bind mounts may not use unless the mount sets
     * `allowDangerous`. Default `/var/lib/docker` (the Docker data root).
     */
    dockerDataRoot?: string;
    /** Backups of chosen volumes: on deploy, on a schedule, on destroy and on demand. */
    backup?: BackupSpec;
    /** Restores into volumes, run before any container that mounts them starts. */
    restores?: RestoreSpec[];
    /**
     * DOCKER_HOST for the jobs run with the docker CLI (pre-deploy backup, restore, final backup, usage),
     * replacing the docker provider's host. Default: the engine of the stack's docker provider (its host,
     * context and TLS settings; for the default provider the `docker:` config, else the environment's).
     */
    dockerHost?: pulumi.Input<string>;
}

/** What to back up, where to, and when. */
export interface BackupSpec {
    /** Keys of the declared volumes to back up. */
    volumes: string[];
    /** Backup engine: `tar` (default; versioned archives) or `restic` (encrypted, deduplicated snapshots; see `restic`). */
    engine?: string;
    /** Absolute host directory the archives go to. Exactly one of targetPath and targetVolume. */
    targetPath?: string;
    /** Key of a declared volume the archives go to (a dedicated backup volume). */
    targetVolume?: string;
    /** `gzip` (default), `zstd` (fast; the job image must have zstd) or `none`. */
    compression?: string;
    /** Archive name prefix: `<prefix>-<volume>-<UTC time>.tar.gz`. Default: the stack's namePrefix. */
    prefix?: string;
    /** Image of the backup jobs (sh, tar, gzip, sha256sum, tee, mkfifo, flock; zstd for zstd). Default `busybox:1.37`. */
    image?: pulumi.Input<string>;
    /** Pull the job image. Default true; false uses an image already on the host. */
    pull?: boolean;
    /** Cron expression (5 fields, UTC) for scheduled backups, e.g. `15 3 * * *`. Default: no schedule. */
    schedule?: string;
    /** Back up before any container that mounts a backed-up volume is replaced; a failure stops the deployment. Default true. */
    onDeploy?: boolean;
    /** Take a final backup when the stack is destroyed, before its volumes go. Default false. */
    onDestroy?: boolean;
    /** Keep the newest N archives per volume (0 = no count limit; at most 10000). Default 7. */
    keepLast?: number;
    /** Keep archives younger than D days (0 = no age limit; at most 36500). Default 0. An archive is kept if either rule keeps it. */
    keepDays?: number;
    /** Seconds a run waits for another run on the same target. Default 300. */
    lockTimeoutSeconds?: number;
    /**
     * Consistency of live data, by volume key: stop or pause the containers that
     * mount the volume, and run commands in app containers (e.g. `pg_dump`) around
     * its backup. Any of these gives the backup jobs the Docker socket.
     */
    consistency?: { [volumeKey: string]: ConsistencySpec };
    /** Host path of the Docker socket, mounted only into jobs that need it. Default `/var/run/docker.sock`. */
    dockerSocket?: string;
    /**
     * Give the backup container the Docker socket so `restore <archive> <volume>`
     * works from inside it. The socket is root on the host: off by default.
     */
    restoreCommand?: boolean;
    /** Disk-usage thresholds checked by every backup run and by `usage`. */
    diskUsage?: DiskUsageSpec;
    /** Settings of the restic engine (`engine: restic`). */
    restic?: ResticSpec;
    /** Where to report backup results: webhooks, ntfy, Slack/Mattermost, Discord (see NotifySpec). Default: nowhere. */
    notify?: NotifySpec[];
    /**
     * Age after which the newest good backup of a volume makes the backup
     * container unhealthy: `90m`, `26h`, `7d`, or `0` for no age check.
     * Default: twice the schedule's longest interval; no age check without a schedule.
     */
    maxAge?: string;
    /** Write Prometheus metrics (node_exporter textfile format) after every run. Default: off. */
    metrics?: MetricsSpec;
}

/**
 * A notification target. Every job (schedule, `backup-now`, `verify` and the
 * restic check, the pre-deploy gate, the final backup on destroy, disk-usage
 * alerts) reports to it; a failed delivery is logged and shown by `status`,
 * and never fails a backup.
 */
export interface NotifySpec {
    /**
     * The target URL. A secret (it usually carries a token): give it as a
     * secret (`config.requireSecret`, or `urlSecret` in stack config). It
     * reaches the jobs as a file, never as an argument, label or environment.
     */
    url: pulumi.Input<string>;
    /**
     * Body format: `json` (a generic webhook), `ntfy`, `slack` (also
     * Mattermost) or `discord`. Default: chosen by the URL (hooks.slack.com and
     * `/hooks/` paths: slack; discord.com webhooks: discord; ntfy hosts: ntfy;
     * anything else: json).
     */
    format?: string;
    /** When to notify: `failure` (default), `success` or `always`. */
    on?: string;
    /** Docker network the jobs join to reach the target. Default `bridge`. */
    network?: string;
}

/** Where the metrics file `<prefix>.prom` goes: exactly one of hostPath and volume. */
export interface MetricsSpec {
    /** Absolute host directory, e.g. node_exporter's `--collector.textfile.directory`. */
    hostPath?: string;
    /** Key of a declared volume. */
    volume?: string;
}

/**
 * The restic engine: encrypted, deduplicated, incremental snapshots. The
 * repository password and SSH key are secrets: they reach the jobs as files
 * (uploaded into the backup container, or piped into one-shot jobs), never as
 * labels, arguments or container environment.
 */
export interface ResticSpec {
    /**
     * Repository: default `/backup/restic` (on the backup target; a local path
     * must be under `/backup`); or a remote one restic supports:
     * `sftp:user@host:/path`, `rest:https://host/`, `s3:host/bucket`... A
     * password in the URL is refused: pass credentials through `env` as secrets.
     */
    repository?: string;
    /** Repository password. Give it as a secret (`config.requireSecret`, or `passwordSecret` in stack config). */
    password?: pulumi.Input<string>;
    /** Keep the newest snapshot of each of the last N days. Default 0 (off). `backup.keepLast` also applies. */
    keepDaily?: number;
    /** Keep the newest snapshot of each of the last N weeks. Default 0. */
    keepWeekly?: number;
    /** Keep the newest snapshot of each of the last N months. Default 0. */
    keepMonthly?: number;
    /** Cron expression (UTC) of `restic check`, in the backup container. Default: no scheduled check. */
    checkSchedule?: string;
    /** How much data `check` reads back: a percentage (`5%`), `n/t`, a size (`500M`), or `0` for structure only. Default `5%`. */
    checkSubset?: string;
    /** Docker network the restic jobs join to reach a remote repository. Default: `bridge` for a remote repository, none for a local one. */
    network?: string;
    /** SSH private key for an `sftp:` repository (a secret). */
    sshKey?: pulumi.Input<string>;
    /** known_hosts lines for an `sftp:` repository. Default: trust the host key on first use. */
    sshKnownHosts?: string;
    /**
     * Extra environment of restic's backend, e.g. `AWS_ACCESS_KEY_ID` (kept secret
     * in the state, visible in `docker inspect`; prefer IAM roles). The engine's own
     * names (`BACKUP_*`, `RESTIC_REPOSITORY`, `RESTIC_PASSWORD*`, `PATH`...) are refused.
     */
    env?: { [name: string]: pulumi.Input<string> };
}

/** How to keep a volume's backup consistent while its containers run. */
export interface ConsistencySpec {
    /** Stop the stack's containers that mount the volume while it is archived; they are started again afterwards, also when the backup fails. Default false. */
    stop?: boolean;
    /** Pause them instead (no writes, no restart; memory kept). Default false. */
    pause?: boolean;
    /** Commands run before the archive, in order, e.g. a `pg_dump` into a dump directory on the volume. */
    preCommands?: HookSpec[];
    /** Commands run after the archive and after the containers are back. */
    postCommands?: HookSpec[];
}

/** A command run inside one of the stack's containers around a backup. */
export interface HookSpec {
    /** Key of the container to run it in (`docker exec`). */
    container: string;
    /** The command, as an argument list of one-line words, e.g. `["sh", "-c", "pg_dump -U app app > /dump/app.sql"]`. Only the program is logged. */
    command: string[];
    /** Seconds it may take. Default 300. */
    timeoutSeconds?: number;
    /** `fail` (default): a failing hook fails the volume's backup; `continue`: it is logged and the backup goes on. */
    onError?: string;
}

/** Disk-usage monitoring of the backed-up volumes and the backup target. */
export interface DiskUsageSpec {
    /** Report loudly when a filesystem holding a volume or the target is more than this percent full. */
    maxPercent?: number;
    /** Report loudly when a backed-up volume holds more than this (bytes, or with k, m, g). */
    maxVolumeSize?: string;
    /** Refuse to back up a volume whose size exceeds the free space of the target, instead of filling the disk. Default true. */
    refuseIfNoFit?: boolean;
}

/** A restore of an archive into a volume. */
export interface RestoreSpec {
    /** Key of the declared volume to restore into. */
    volume: string;
    /** `latest` (newest archive that verifies, or newest snapshot), an archive file name (tar) or a snapshot id (restic). */
    from: string;
    /** Archive prefix to restore from, e.g. another stack's (`shop-prod`) to clone its data. Default: backup.prefix. */
    prefix?: string;
    /** Volume key the archives were made from. Default: `volume`. */
    sourceVolume?: string;
    /** Replace the contents of a non-empty volume. Default false: a non-empty volume is refused. */
    force?: boolean;
}

/** A named Docker volume. */
export interface VolumeSpec {
    /** Docker volume name. Default `<namePrefix>-<key>`. Required when `external`. */
    name?: string;
    /** Volume driver. Default `local`. Changing it replaces the volume. */
    driver?: string;
    /** Driver options (e.g. `type: tmpfs`, or `o: bind` with `device`). Changing them replaces the volume. */
    driverOpts?: { [key: string]: string };
    /** Labels on the volume, beside the stack's own. Changing them replaces the volume. */
    labels?: { [key: string]: string };
    /** Adopt an existing volume by `name`: the stack mounts it but never creates or deletes it. Default false. */
    external?: boolean;
    /** Keep the volume (and its data) on `pulumi destroy` and on replacement. Default: `protection.retainOnDelete`. */
    retainOnDelete?: boolean;
    /** Mark the volume `protect`ed: Pulumi refuses to delete or replace it. Default: `protection.protect`. */
    protect?: boolean;
}

/** Data protection defaults. */
export interface ProtectionSpec {
    /** Keep volumes on destroy and replacement. Default true; set false only for throwaway stacks. */
    retainOnDelete?: boolean;
    /** Pulumi `protect` on volumes: destroy and replacement fail until it is lifted. Default false. */
    protect?: boolean;
}

/** A container of the stack. */
export interface ContainerSpec {
    /** Image reference, e.g. `postgres:16`. */
    image: pulumi.Input<string>;
    /** Pull the image (RemoteImage) before use. Default true; false uses an image already present on the host. */
    pull?: boolean;
    /** Docker container name. Default `<namePrefix>-<key>`. */
    name?: string;
    /** Command (CMD) override. */
    command?: pulumi.Input<string>[];
    /** Entrypoint override. */
    entrypoint?: pulumi.Input<string>[];
    /** Environment. Values given as secrets stay secret. */
    env?: { [name: string]: pulumi.Input<string> };
    /** Working directory inside the container. */
    workingDir?: string;
    /** User (`uid[:gid]` or name) the process runs as. */
    user?: string;
    /** Published ports. */
    ports?: PortSpec[];
    /** Restart policy: `no`, `always`, `unless-stopped` or `on-failure`. Default `unless-stopped`. */
    restart?: string;
    /** Health check. */
    healthcheck?: HealthcheckSpec;
    /** Labels on the container, beside the stack's own. */
    labels?: { [key: string]: string };
    /** Mounts: declared volumes, bind mounts and tmpfs. */
    mounts?: MountSpec[];
    /** Extra DNS aliases on the stack network (the key is always one). */
    networkAliases?: string[];
    /** Memory limit in MiB. Default unlimited. */
    memoryMb?: number;
}

/**
 * One mount. `type` selects which other fields apply:
 * - `volume`: `volume` (a declared volume's key), `readOnly`, `subpath`, `noCopy`;
 * - `bind`: `source` (absolute host path), `readOnly`, `propagation`, `allowDangerous`, `createHostPath`;
 * - `tmpfs`: `size`, `mode`.
 */
export interface MountSpec {
    /** `volume`, `bind` or `tmpfs`. */
    type: string;
    /** Absolute path inside the container. */
    target: string;
    /** Key of a declared volume (type `volume`). */
    volume?: string;
    /** Absolute host path (type `bind`). */
    source?: string;
    /** Mount read-only. Default false. */
    readOnly?: boolean;
    /** Mount only this relative path of the volume (type `volume`; Docker Engine >= 26). */
    subpath?: string;
    /** Do not copy the image's files into an empty volume (type `volume`). Default false. */
    noCopy?: boolean;
    /** Bind propagation: `private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`. */
    propagation?: string;
    /** Allow binding a dangerous host path (`/`, `/etc`, the Docker socket, the Docker data root...). Default false. */
    allowDangerous?: boolean;
    /**
     * Create a missing host directory, as `docker run -v` and Docker Compose do
     * (type `bind`). Default true, unless `propagation` is set (Docker cannot do
     * both); false makes a missing directory an error.
     */
    createHostPath?: boolean;
    /** tmpfs size: bytes, or a number with a `k`, `m` or `g` suffix (e.g. `64m`). Default unlimited. */
    size?: string;
    /** tmpfs mode in octal, e.g. `1777`. Default `1777`. */
    mode?: string;
}

/** A published port. */
export interface PortSpec {
    /** Port inside the container. */
    internal: number;
    /** Host port. Default: same as `internal`. */
    external?: number;
    /** Host address to bind. Default: all addresses (Docker's default). */
    ip?: string;
    /** `tcp` (default) or `udp`. */
    protocol?: string;
}

/** A container health check. */
export interface HealthcheckSpec {
    /** Test command in Docker's form, e.g. `["CMD-SHELL", "pg_isready"]`. */
    test: string[];
    /** Time between checks, e.g. `10s`. */
    interval?: string;
    /** Time a check may take, e.g. `5s`. */
    timeout?: string;
    /** Failures before unhealthy. */
    retries?: number;
    /** Grace period after start, e.g. `30s`. */
    startPeriod?: string;
}

/** The stack's private network. */
export interface NetworkSpec {
    /** Docker network name. Default `<namePrefix>-net`. */
    name?: string;
    /** No route to the outside world. Default false. */
    internal?: boolean;
    /** Network driver. Default `bridge`. */
    driver?: string;
}
