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
import { BackupPlan, dockerRunCommand, JobMount, RestorePlan, SecretFile } from "./plan";
import { scriptBundle, scriptDir, scriptUploads } from "./scripts";

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
        if (!secrets.length) {
            return `${run} ${bundle}`;
        }
        // Secrets first, one base64 line each, then the bundle: all on stdin.
        const lines = secrets.map((_, i) => `printf '%s\\n' "$PDS_SECRET_${i + 1}"`).join("; ");
        return `{ ${lines}; cat ${bundle}} | ${run}\n`;
    });
    return { command, environment };
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
