// Resources of the backup and restore jobs:
// - the long-running backup container (schedule, on-demand `backup-now`);
// - one-shot jobs run with the docker CLI through @pulumi/command, because they
//   must gate the deployment: a non-zero exit fails `pulumi up` (a one-shot
//   docker.Container would only record its exit code).
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { labelList } from "../naming";
import { BackupPlan, dockerRunCommand, JobMount, RestorePlan } from "./plan";
import { scriptBundle, scriptDir, scriptUploads } from "./scripts";

/** A one-shot job: `docker run` of a job script, as a shell command. */
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
}

/** The shell command that runs a job: `docker run ... sh -s` fed the script bundle. */
export function jobCommand(job: JobRun): pulumi.Output<string> {
    return pulumi.output(job.image).apply((image) => {
        const run = dockerRunCommand({ image, env: job.env, mounts: job.mounts, labels: job.labels });
        return `${run} <<'PDS_BUNDLE'\n${scriptBundle(job.script, job.args, job.tolerate)}PDS_BUNDLE\n`;
    });
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
            command: ["sh", `${scriptDir}/scheduler.sh`],
            envs: pulumi.output(image).apply((jobImage) =>
                Object.entries({
                    ...plan.env,
                    ...(plan.schedule ? { BACKUP_SCHEDULE: plan.schedule } : {}),
                    // For `restore <archive> <volume>`, which starts a restore job.
                    BACKUP_VOLUME_NAMES: plan.sourceMounts.map((m) => `${m.target.split("/").pop()}=${m.source}`).join(" "),
                    BACKUP_TARGET_MOUNT: `type=${plan.targetMount.type},source=${plan.targetMount.source},target=${plan.targetMount.target}`,
                    BACKUP_JOB_IMAGE: jobImage,
                }).map(([k, v]) => `${k}=${v}`),
            ),
            mounts: [...plan.sourceMounts, plan.targetMount, ...(plan.socketMount ? [plan.socketMount] : [])],
            // Least privilege: no network, and the Docker socket only for hooks or `restore`.
            networkMode: "none",
            uploads: scriptUploads(),
            restart: "unless-stopped",
            labels: labelList(plan.labels),
        },
        { ...opts, deleteBeforeReplace: true },
    );
}

/** Options shared by the one-shot job commands. */
export interface JobCommandOptions {
    dockerHost?: pulumi.Input<string>;
    opts: pulumi.CustomResourceOptions;
}

function environment(dockerHost: pulumi.Input<string> | undefined): pulumi.Input<Record<string, pulumi.Input<string>>> | undefined {
    return dockerHost === undefined ? undefined : { DOCKER_HOST: dockerHost };
}

/**
 * A backup that gates a deployment: it runs again whenever `trigger` changes
 * (the fingerprint of a container about to be replaced), and its failure
 * fails `pulumi up` before the container is touched. Other input changes (a
 * new version of the scripts) do not re-run it.
 */
export function gatingBackup(name: string, job: JobRun, trigger: pulumi.Input<string>, options: JobCommandOptions): command.local.Command {
    return new command.local.Command(
        name,
        { create: jobCommand(job), update: "true", triggers: [trigger], environment: environment(options.dockerHost) },
        options.opts,
    );
}

/** A final backup run when the stack is destroyed (the command's delete). */
export function finalBackup(name: string, job: JobRun, options: JobCommandOptions): command.local.Command {
    return new command.local.Command(
        name,
        { create: "true", update: "true", delete: jobCommand(job), environment: environment(options.dockerHost) },
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
    image: pulumi.Input<string>,
    options: JobCommandOptions,
): command.local.Command {
    const job: JobRun = { image, env: plan.env, mounts: plan.mounts, labels: plan.labels, script: "restore.sh" };
    return new command.local.Command(
        name,
        {
            create: jobCommand(job),
            update: "true",
            triggers: [plan.volumeName, plan.env.BACKUP_PREFIX, plan.env.RESTORE_VOLUME, plan.env.RESTORE_FROM, plan.env.RESTORE_FORCE],
            environment: environment(options.dockerHost),
        },
        options.opts,
    );
}

/**
 * Disk usage of the backed-up volumes and the target, measured at every
 * `pulumi up` (the trigger is the deployment's time), as JSON on stdout. An
 * exceeded threshold is reported in the JSON (`alerts`), not as a failed
 * deployment: the scheduled job is the one that fails loudly.
 */
export function usageProbe(name: string, plan: BackupPlan, image: pulumi.Input<string>, options: JobCommandOptions): command.local.Command {
    const job: JobRun = {
        image,
        env: plan.env,
        mounts: [...plan.sourceMounts, { ...plan.targetMount, readOnly: true }],
        labels: plan.labels,
        script: "usage.sh",
        args: ["--json"],
        tolerate: [5],
    };
    return new command.local.Command(
        name,
        {
            create: jobCommand(job),
            triggers: [new Date().toISOString()],
            environment: environment(options.dockerHost),
        },
        options.opts,
    );
}
