// Resources of the backup and restore jobs:
// - the long-running backup container (schedule, on-demand `backup-now`);
// - one-shot jobs run with the docker CLI through @pulumi/command, because they
//   must gate the deployment: a non-zero exit fails `pulumi up` (a one-shot
//   docker.Container would only record its exit code).
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DockerCli } from "../engine";
import { labelList } from "../naming";
import { BackupPlan, dockerRunCommand, JobMount, jobPaths, RestorePlan, SecretFile, secretPaths, shellQuote } from "./plan";
import { reportedMarker, scriptBundle, scriptDir, scriptUploads, scriptWriters } from "./scripts";

/** A one-shot job: `docker run` of a job script. */
export interface JobRun {
    image: pulumi.Input<string>;
    env: Record<string, string>;
    mounts: JobMount[];
    labels: Record<string, string>;
    /** Entry script, e.g. `backup.sh`. */
    script: string;
    /** Arguments of the entry script. */
    args?: string[];
    /** Exit codes of the script that count as success. */
    tolerate?: number[];
    /** `none` (default) or the network the job joins. */
    network?: string;
    /** Secrets written to files in the job (piped on stdin, never in argv or the container's environment). */
    secretFiles?: SecretFile[];
    /** Environment whose values may be secrets: passed by name from the command's environment. */
    secretEnv?: Record<string, pulumi.Input<string>>;
    /** What started the job (deploy, destroy, usage): run through run-job.sh, which records and notifies. */
    trigger?: string;
}

/** The job of `plan`'s engine script with the plan's mounts, network and secrets. */
export function planJob(
    plan: BackupPlan,
    image: pulumi.Input<string>,
    script: string,
    options: {
        volumes?: string[];
        env?: Record<string, string>;
        socket?: boolean;
        targetReadOnly?: boolean;
        args?: string[];
        tolerate?: number[];
        trigger?: string;
    } = {},
): JobRun {
    const volumes = options.volumes ?? plan.volumeKeys;
    return {
        image,
        env: { ...plan.env, ...options.env },
        mounts: [
            ...plan.sourceMounts.filter((m) => volumes.includes(m.target.split("/").pop()!)),
            ...(plan.targetMount ? [{ ...plan.targetMount, readOnly: options.targetReadOnly ?? false }] : []),
            ...(options.socket && plan.socketMount ? [plan.socketMount] : []),
            ...(plan.metricsMount ? [plan.metricsMount] : []),
        ],
        labels: plan.labels,
        script,
        args: options.args,
        tolerate: options.tolerate,
        network: plan.network,
        secretFiles: plan.secretFiles,
        secretEnv: plan.secretEnv,
        trigger: options.trigger,
    };
}

/** The shell command that runs a job, and the environment it needs (secrets, as base64). */
export function jobCommand(job: JobRun): { command: pulumi.Output<string>; environment: Record<string, pulumi.Input<string>> } {
    const secrets = job.secretFiles ?? [];
    // Secret whatever way they were given (a plain string in args included): the
    // command's environment is stored in the state.
    const environment: Record<string, pulumi.Input<string>> = Object.fromEntries(
        Object.entries(job.secretEnv ?? {}).map(([k, v]) => [k, pulumi.secret(v)]),
    );
    secrets.forEach((secret, i) => {
        // Secret even when given as a plain string: it must never reach the state in clear.
        environment[`PDS_SECRET_${i + 1}`] = pulumi.secret(pulumi.output(secret.content).apply((v) => Buffer.from(v).toString("base64")));
    });
    const command = pulumi.output(job.image).apply((image) => {
        const run = dockerRunCommand({
            image,
            env: job.env,
            mounts: job.mounts,
            labels: job.labels,
            network: job.network,
            passEnv: Object.keys(job.secretEnv ?? {}),
            secretPaths: secrets.map((s) => s.path),
        });
        const [entry, args] = job.trigger ? ["run-job.sh", [job.trigger, job.script, ...(job.args ?? [])]] : [job.script, job.args];
        const bundle = `<<'PDS_BUNDLE'\n${scriptBundle(entry, args, job.tolerate)}PDS_BUNDLE\n`;
        // Secrets first, one base64 line each, then the bundle: all on stdin.
        const lines = secrets.map((_, i) => `printf '%s\\n' "$PDS_SECRET_${i + 1}"`).join("; ");
        const inner = secrets.length ? `{ ${lines}; cat ${bundle}} | ${run}\n` : `${run} ${bundle}`;
        return job.trigger && Number(job.env.BACKUP_NOTIFY_COUNT ?? 0) > 0 ? withHostNotify(inner, job) : inner;
    });
    return { command, environment };
}

/**
 * `run` (a job's `docker run`), followed on the host by host-notify.sh when it
 * failed without run-job.sh's report (NOTIFY_REPORTED): `docker run` could not
 * start the container (missing image or mount, unreachable engine), or the
 * container was killed. Docker's standard error passes through as before and
 * is kept for the message; the exit code is `run`'s. The notification URLs
 * come from the command's secret environment into a private temporary
 * directory, removed on exit.
 */
export function withHostNotify(run: string, job: JobRun): string {
    const hostDir = '"$pds_d/lib"';
    const urls = (job.secretFiles ?? []).flatMap((file, i) =>
        file.path.startsWith(`${secretPaths.notify}/`)
            ? [`pds_b64d "$PDS_SECRET_${i + 1}" > "$pds_d/notify/${file.path.slice(secretPaths.notify.length + 1)}"`]
            : [],
    );
    const volumes = job.mounts.filter((m) => m.target.startsWith(`${jobPaths.sources}/`)).map((m) => m.target.split("/").pop()!);
    const env: Record<string, string> = {
        BACKUP_VOLUMES: volumes.join(" "),
        ...Object.fromEntries(Object.entries(job.env).filter(([k]) => /^BACKUP_(STACK_NAME|PREFIX|ENGINE|VOLUMES|NOTIFY_.*)$/.test(k))),
    };
    const notify = [
        "(",
        "umask 077",
        `mkdir -p ${hostDir} "$pds_d/notify"`,
        ...scriptWriters(hostDir, ["status.sh", "notify.sh", "host-notify.sh"]),
        // base64 of coreutils or busybox, else node (on the machine that runs pulumi).
        `pds_b64d() { if command -v base64 >/dev/null 2>&1; then printf '%s' "$1" | base64 -d; else PDS_B64="$1" node -e 'process.stdout.write(Buffer.from(process.env.PDS_B64, "base64"))'; fi; }`,
        ...urls,
        ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
        'export BACKUP_NOTIFY_DIR="$pds_d/notify"',
        `sh ${hostDir}/host-notify.sh ${[job.trigger!, job.script].map(shellQuote).join(" ")} "$pds_rc" "$pds_d/err" "$pds_start"`,
        ") || true",
    ];
    return [
        "pds_job() {",
        run.replace(/\n$/, ""),
        "}",
        'pds_d=$(mktemp -d "${TMPDIR:-/tmp}/pds-job.XXXXXX") || exit 1',
        `trap 'rm -rf -- "$pds_d"' EXIT`,
        "pds_start=$(date -u +%s)",
        // stderr through tee into a file, stdout untouched (fd 3), the exit code kept.
        '{ { pds_job 2>&1 1>&3 3>&-; echo "$?" > "$pds_d/rc"; } | tee "$pds_d/err" >&2; } 3>&1',
        'pds_rc=$(cat "$pds_d/rc" 2>/dev/null) || pds_rc=1',
        `if [ "$pds_rc" -ne 0 ] && ! grep -qF ${shellQuote(reportedMarker())} "$pds_d/err"; then`,
        ...notify,
        "fi",
        'exit "$pds_rc"',
        "",
    ].join("\n");
}

/** The long-running backup container: runs the schedule and answers `docker exec ... backup-now`. */
export function backupContainer(
    name: string,
    plan: BackupPlan,
    image: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions,
): docker.Container {
    return new docker.Container(
        name,
        {
            name: plan.containerName,
            image,
            entrypoints: ["sh"],
            command: [`${scriptDir}/scheduler.sh`],
            envs: pulumi.all([image, secretIfAny(plan.secretEnv)]).apply(([jobImage, secretEnv]) =>
                Object.entries({
                    ...plan.env,
                    ...secretEnv,
                    ...(plan.schedule ? { BACKUP_SCHEDULE: plan.schedule } : {}),
                    // For `restore <archive> <volume>`, which starts a restore job.
                    BACKUP_VOLUME_NAMES: plan.sourceMounts.map((m) => `${m.target.split("/").pop()}=${m.source}`).join(" "),
                    ...(plan.targetMount
                        ? {
                              BACKUP_TARGET_MOUNT: `type=${plan.targetMount.type},source=${plan.targetMount.source},target=${plan.targetMount.target}`,
                          }
                        : {}),
                    BACKUP_JOB_IMAGE: jobImage,
                }).map(([k, v]) => `${k}=${v}`),
            ),
            mounts: [plan.targetMount, plan.metricsMount].reduce(
                (m, extra) => (extra?.type === "volume" ? [...m, extra] : m),
                [...plan.sourceMounts],
            ),
            // Binds (a host target directory, the Docker socket) go through Docker's `-v`
            // binds, which create a missing target directory.
            volumes: [plan.targetMount, plan.socketMount, plan.metricsMount]
                .filter((m): m is JobMount => m?.type === "bind")
                .map((m) => ({ hostPath: m.source, containerPath: m.target, readOnly: m.readOnly })),
            // Least privilege: no network unless a remote repository or a notification
            // target needs one, and the Docker socket only for hooks or `restore`.
            networkMode: plan.network,
            // Unhealthy when the last run failed or a volume's newest good backup is older than maxAge.
            healthcheck: {
                tests: ["CMD", "sh", `${scriptDir}/status.sh`, "--health"],
                interval: plan.health.interval,
                timeout: "30s",
                retries: 1,
            },
            // Scripts, and secrets as files (uploads do not show in `docker inspect`).
            uploads: [...scriptUploads(), ...plan.secretFiles.map((f) => ({ file: f.path, content: pulumi.secret(f.content) }))],
            restart: "unless-stopped",
            labels: labelList(plan.labels),
        },
        { ...opts, deleteBeforeReplace: true },
    );
}

/** Backend credentials as one secret: none of them shows in plain text in the state (the whole env list is hidden when any is set). */
function secretIfAny(env: Record<string, pulumi.Input<string>>): pulumi.Input<Record<string, pulumi.Input<string>>> {
    return Object.keys(env).length ? pulumi.secret(env) : env;
}

/** Options shared by the one-shot job commands. */
export interface JobCommandOptions {
    /** How the docker CLI reaches the stack's engine (see engine.ts). */
    engine: pulumi.Input<DockerCli>;
    opts: pulumi.CustomResourceOptions;
}

/**
 * The command and environment of a job run against `engine`: the engine's
 * CLI environment next to the job's own, and its TLS setup (if any) first.
 */
function onEngine(
    run: ReturnType<typeof jobCommand>,
    engine: pulumi.Input<DockerCli>,
): { command: pulumi.Output<string>; environment: pulumi.Output<Record<string, string>> } {
    const cli = pulumi.output(engine);
    // The setup names the variables that hold the material, never the material itself.
    const setup = pulumi.unsecret(cli.apply((c) => c.setup));
    const environment = pulumi.all([pulumi.output(run.environment), cli]).apply(([own, c]) => {
        const env = { ...own, ...c.environment };
        return Object.keys(env).length ? env : undefined;
    }) as pulumi.Output<Record<string, string>>; // undefined leaves the input unset
    return { command: pulumi.all([setup, run.command]).apply(([s, c]) => s + c), environment };
}

/**
 * A backup that gates a deployment: it runs again whenever `trigger` changes
 * (the fingerprint of a container about to be replaced), and its failure
 * fails `pulumi up` before the container is touched. Other input changes (a
 * new version of the scripts) do not re-run it.
 */
export function gatingBackup(name: string, job: JobRun, trigger: pulumi.Input<string>, options: JobCommandOptions): command.local.Command {
    const run = onEngine(jobCommand(job), options.engine);
    return new command.local.Command(
        name,
        { create: run.command, update: "true", triggers: [trigger], environment: run.environment },
        options.opts,
    );
}

/** A final backup run when the stack is destroyed (the command's delete). */
export function finalBackup(name: string, job: JobRun, options: JobCommandOptions): command.local.Command {
    const run = onEngine(jobCommand(job), options.engine);
    return new command.local.Command(
        name,
        { create: "true", update: "true", delete: run.command, environment: run.environment },
        options.opts,
    );
}

/**
 * A restore into a volume, run once before the containers that mount it start.
 * It runs again only when what to restore changes (from, prefix, force).
 */
export function restoreJob(
    name: string,
    plan: RestorePlan,
    backup: BackupPlan,
    image: pulumi.Input<string>,
    options: JobCommandOptions,
): command.local.Command {
    const run = onEngine(
        jobCommand({
            image,
            env: plan.env,
            mounts: plan.mounts,
            labels: plan.labels,
            script: backup.scripts.restore,
            // Restores notify no one: only the repository's network, no notification URLs.
            network: backup.repositoryNetwork,
            secretFiles: backup.secretFiles.filter((f) => !backup.notifyFiles.includes(f)),
            secretEnv: backup.secretEnv,
        }),
        options.engine,
    );
    return new command.local.Command(
        name,
        {
            create: run.command,
            update: "true",
            triggers: [plan.volumeName, plan.env.BACKUP_PREFIX, plan.env.RESTORE_VOLUME, plan.env.RESTORE_FROM, plan.env.RESTORE_FORCE],
            environment: run.environment,
        },
        options.opts,
    );
}

/**
 * Disk usage of the backed-up volumes and the target as JSON on stdout,
 * measured when the probe is created and whenever what it measures changes
 * (volumes, target, thresholds, image). It has no time trigger, so a
 * `pulumi preview` of an unchanged stack stays clean; the live figures come
 * from `docker exec <backup container> usage` and the scheduled runs. An
 * exceeded threshold is reported in the JSON (`alerts`), not as a failed
 * deployment: the scheduled job is the one that fails loudly.
 */
export function usageProbe(name: string, plan: BackupPlan, image: pulumi.Input<string>, options: JobCommandOptions): command.local.Command {
    const run = onEngine(
        jobCommand({
            ...planJob(plan, image, "usage.sh", {
                targetReadOnly: true,
                args: ["--json"],
                tolerate: [5],
                trigger: "usage",
                // Alerts are notified; the record stays the backups' (the target is read-only here).
                env: { BACKUP_STATUS_DIR: "/tmp/pds-status" },
            }),
            secretFiles: plan.notifyFiles,
            secretEnv: {},
        }),
        options.engine,
    );
    return new command.local.Command(name, { create: run.command, environment: run.environment }, options.opts);
}
