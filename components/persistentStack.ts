// PersistentStack: named volumes, containers that mount them and a private
// network, from validated args. The plan (names, labels, mounts) comes from
// plan.ts; this file only turns it into resources.
import type * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { backupContainer, finalBackup, gatingBackup, JobCommandOptions, planJob, restoreJob, usageProbe } from "./backup/jobs";
import { BackupPlan, planBackup, planRestores } from "./backup/plan";
import { DiskUsage, parseDiskUsage } from "./backup/usage";
import { ConfigError, validateStackArgs } from "./config/schema";
import { containerArgsOf, jobImageOf, pulledImage, replacementFingerprint } from "./containers";
import { dockerProviderOf, jobEngine } from "./engine";
import { createNetwork } from "./network";
import { nameCollisions, planStack, StackPlan } from "./plan";
import type { PersistentStackArgs } from "./types";
import { createVolume, createVolumeGuard } from "./volumes";

/** Type token of the component. */
export const persistentStackType = "persistent-docker:index:PersistentStack";

// Docker names claimed by the stacks of one program on one engine: two stacks
// must not silently share (and fight over) the same volume or container. Keyed
// by the engine's docker provider, or by the program's root stack resource for
// the default provider, so the registry lives and dies with what it describes.
const claimedNames = new WeakMap<object, Map<string, string>>();

/** Named volumes, containers that mount them and a private network, with data protection. */
export class PersistentStack extends pulumi.ComponentResource {
    /** Docker volume names by key (external volumes included). */
    public readonly volumeNames: pulumi.Output<Record<string, string>>;
    /** Docker container names by key. */
    public readonly containerNames: pulumi.Output<Record<string, string>>;
    /** Docker container ids by key. */
    public readonly containerIds: pulumi.Output<Record<string, string>>;
    /** Docker name of the stack's network. */
    public readonly networkName: pulumi.Output<string>;
    /** The plan the stack was built from (names, labels, mounts). */
    public readonly plan: StackPlan;
    /** Volume resources by key (external volumes have none). */
    public readonly volumes: Record<string, docker.Volume> = {};
    /** Container resources by key. */
    public readonly containers: Record<string, docker.Container> = {};
    /** The stack's network. */
    public readonly network: docker.Network;
    /** The backup plan (prefix, mounts, environment), when backups are configured. */
    public readonly backupPlan?: BackupPlan;
    /** The long-running backup container (schedule and `backup-now`). */
    public readonly backupContainer?: docker.Container;
    /**
     * Disk usage measured at this deployment, when `backup.diskUsage` is set:
     * `{volumes: {<key>: {bytes, filesystemPercent}}, target: {bytes,
     * filesystemBytes, availableBytes, filesystemPercent}, alerts}`.
     */
    public readonly diskUsage: pulumi.Output<DiskUsage | undefined>;
    /** Name of the backup container, when backups are configured. */
    public readonly backupContainerName: pulumi.Output<string | undefined>;
    /** Restore jobs by volume key. */
    public readonly restores: Record<string, command.local.Command> = {};
    /** Pre-deploy backups by container key. */
    public readonly preDeployBackups: Record<string, command.local.Command> = {};

    constructor(name: string, args: PersistentStackArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before anything is registered, so bad input creates nothing.
        const valid = validateStackArgs(args, `PersistentStack "${name}"`);
        const ctx = { project: pulumi.getProject(), stack: pulumi.getStack(), component: name };
        const plan = planStack(valid, ctx);
        const backup = planBackup(valid.backup, plan, ctx, valid.labels);
        const restores = planRestores(valid.restores, backup, plan);
        const collisions = nameCollisions(
            plan,
            backup ? [{ kind: "container", dockerName: backup.containerName, owner: "the backup container" }] : [],
        );
        if (collisions.length) {
            throw new ConfigError(collisions, `PersistentStack "${name}"`);
        }
        const provider = dockerProviderOf(opts);
        // Only the one-shot jobs (which need backups) run the docker CLI.
        const engine = backup ? jobEngine(provider, valid.dockerHost, `PersistentStack "${name}"`) : undefined;
        claimNames(name, plan, backup, provider);
        super(persistentStackType, name, {}, opts);
        this.plan = plan;
        this.backupPlan = backup;

        const volumeDependencies: Record<string, pulumi.Resource> = {};
        const guard = createVolumeGuard(name, plan.volumes, this);
        for (const volume of plan.volumes.filter((v) => !v.external)) {
            this.volumes[volume.key] = createVolume(name, volume, this, guard);
            volumeDependencies[volume.key] = this.volumes[volume.key];
        }
        this.network = createNetwork(name, plan.network, this);

        // Own properties only: a key such as "constructor" must not find Object's.
        const volumesOf = (keys: string[]) => keys.flatMap((k) => (Object.hasOwn(volumeDependencies, k) ? [volumeDependencies[k]] : []));

        // Backup and restore jobs.
        const jobImage = backup ? jobImageOf(name, backup, this) : undefined;
        const jobOptions = (dependsOn: pulumi.Resource[]): JobCommandOptions => ({
            engine: engine!,
            opts: { parent: this, dependsOn },
        });
        // The volumes every backup job writes to: the target and the metrics volume.
        const targetVolume = [backup?.targetVolumeKey, backup?.metricsVolumeKey].flatMap((k) => (k ? volumesOf([k]) : []));
        for (const restore of restores) {
            this.restores[restore.volumeKey] = restoreJob(
                `${name}-restore-${restore.volumeKey}`,
                restore,
                backup!,
                jobImage!.image,
                jobOptions([...volumesOf([restore.volumeKey]), ...targetVolume, ...jobImage!.dependsOn]),
            );
        }
        const restoresOf = (keys: string[]) => keys.flatMap((k) => (Object.hasOwn(this.restores, k) ? [this.restores[k]] : []));
        const final =
            backup?.onDestroy && jobImage
                ? finalBackup(
                      `${name}-final-backup`,
                      planJob(backup, jobImage.image, backup.scripts.backup, { socket: backup.hooks, trigger: "destroy" }),
                      jobOptions([...volumesOf(backup.volumeKeys), ...targetVolume, ...jobImage.dependsOn]),
                  )
                : undefined;

        for (const container of plan.containers) {
            const image = container.pull ? pulledImage(name, container, this) : pulumi.output(container.image);
            const mounted = container.mounts.flatMap((m) => (m.volumeKey ? [m.volumeKey] : []));
            // The final backup depends on nothing the containers create, but they depend
            // on it, so `pulumi destroy` removes the containers first, then backs up.
            const dependsOn: pulumi.Resource[] = [...volumesOf(mounted), ...restoresOf(mounted), ...(final ? [final] : [])];
            const containerArgs = containerArgsOf(container, image, this.network);
            const backedUp = backup?.onDeploy ? mounted.filter((k) => backup.volumeKeys.includes(k)) : [];
            if (backup && jobImage && backedUp.length) {
                this.preDeployBackups[container.key] = gatingBackup(
                    `${name}-predeploy-${container.key}`,
                    planJob(backup, jobImage.image, backup.scripts.backup, {
                        volumes: backedUp,
                        env: { BACKUP_VOLUMES: backedUp.join(" "), BACKUP_SKIP_EMPTY: "true" },
                        socket: backup.hooks,
                        trigger: "deploy",
                    }),
                    replacementFingerprint(containerArgs),
                    jobOptions([...volumesOf(backedUp), ...restoresOf(backedUp), ...targetVolume, ...jobImage.dependsOn]),
                );
                dependsOn.push(this.preDeployBackups[container.key]);
            }
            // A fixed container name cannot exist twice, so replacement deletes first.
            this.containers[container.key] = new docker.Container(`${name}-ctr-${container.key}`, containerArgs, {
                parent: this,
                dependsOn,
                deleteBeforeReplace: true,
            });
        }

        if (backup && jobImage) {
            this.backupContainer = backupContainer(`${name}-backup`, backup, jobImage.image, {
                parent: this,
                dependsOn: [...volumesOf(backup.volumeKeys), ...restoresOf(backup.volumeKeys), ...targetVolume, ...jobImage.dependsOn],
            });
        }
        this.backupContainerName = this.backupContainer ? this.backupContainer.name : pulumi.output(undefined);
        const probe =
            backup?.measureUsage && jobImage
                ? usageProbe(
                      `${name}-usage`,
                      backup,
                      jobImage.image,
                      jobOptions([...volumesOf(backup.volumeKeys), ...targetVolume, ...jobImage.dependsOn]),
                  )
                : undefined;
        this.diskUsage = probe ? probe.stdout.apply(parseDiskUsage) : pulumi.output(undefined);

        this.volumeNames = pulumi.output(
            Object.fromEntries(plan.volumes.map((v) => [v.key, this.volumes[v.key]?.name ?? pulumi.output(v.dockerName)])),
        );
        this.containerNames = pulumi.output(Object.fromEntries(Object.entries(this.containers).map(([k, c]) => [k, c.name])));
        this.containerIds = pulumi.output(Object.fromEntries(Object.entries(this.containers).map(([k, c]) => [k, c.id])));
        this.networkName = this.network.name;
        this.registerOutputs({
            volumeNames: this.volumeNames,
            containerNames: this.containerNames,
            containerIds: this.containerIds,
            networkName: this.networkName,
            backupContainerName: this.backupContainerName,
            diskUsage: this.diskUsage,
        });
    }
}

function claimNames(
    component: string,
    plan: StackPlan,
    backup: BackupPlan | undefined,
    provider: pulumi.ProviderResource | undefined,
): void {
    const engine = provider ?? pulumi.runtime.getStackResource();
    if (engine === undefined) {
        return; // Not run by a Pulumi program: there is no program to share names with.
    }
    const claimed = claimedNames.get(engine) ?? new Map<string, string>();
    claimedNames.set(engine, claimed);
    const names = [
        ...plan.volumes.filter((v) => !v.external).map((v) => `volume ${v.dockerName}`),
        ...plan.containers.map((c) => `container ${c.dockerName}`),
        ...(backup ? [`container ${backup.containerName}`] : []),
        `network ${plan.network.dockerName}`,
    ];
    for (const name of names) {
        const owner = claimed.get(name);
        if (owner !== undefined && owner !== component) {
            throw new Error(
                `PersistentStack "${component}": Docker ${name} is already managed by PersistentStack "${owner}" on the same engine in this program; give one of them its own namePrefix`,
            );
        }
    }
    names.forEach((n) => claimed.set(n, component));
}
