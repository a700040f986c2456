// PersistentStack: named volumes, containers that mount them and a private
// network, from validated args. The plan (names, labels, mounts) comes from
// plan.ts; this file only turns it into resources.
import type * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { backupContainer, finalBackup, gatingBackup, JobCommandOptions, planJob, restoreJob, usageProbe } from "./backup/jobs";
import { BackupPlan, planBackup, planRestores } from "./backup/plan";
import { validateStackArgs } from "./config/schema";
import { labelList } from "./naming";
import { ContainerPlan, NetworkPlan, planStack, StackPlan, VolumePlan } from "./plan";
import type { PersistentStackArgs } from "./types";
import { VolumeGuard, volumeFingerprint } from "./volumeGuard";

/** Type token of the component. */
export const persistentStackType = "persistent-docker:index:PersistentStack";

// Docker names claimed by stacks constructed in this process: two stacks in one
// program must not silently share (and fight over) the same volume or container.
const claimedNames = new Map<string, string>();

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
        claimNames(name, plan, backup);
        super(persistentStackType, name, {}, opts);
        this.plan = plan;
        this.backupPlan = backup;

        const volumeDependencies: Record<string, pulumi.Resource> = {};
        for (const volume of plan.volumes.filter((v) => !v.external)) {
            this.volumes[volume.key] = createVolume(name, volume, this);
            volumeDependencies[volume.key] = this.volumes[volume.key];
        }
        this.network = createNetwork(name, plan.network, this);

        const volumesOf = (keys: string[]) => keys.flatMap((k) => (volumeDependencies[k] ? [volumeDependencies[k]] : []));

        // Backup and restore jobs.
        const jobImage = backup ? jobImageOf(name, backup, this) : undefined;
        const jobOptions = (dependsOn: pulumi.Resource[]): JobCommandOptions => ({
            dockerHost: valid.dockerHost,
            opts: { parent: this, dependsOn },
        });
        const targetVolume = backup?.targetVolumeKey ? volumesOf([backup.targetVolumeKey]) : [];
        for (const restore of restores) {
            this.restores[restore.volumeKey] = restoreJob(
                `${name}-restore-${restore.volumeKey}`,
                restore,
                backup!,
                jobImage!.image,
                jobOptions([...volumesOf([restore.volumeKey]), ...targetVolume, ...jobImage!.dependsOn]),
            );
        }
        const restoresOf = (keys: string[]) => keys.flatMap((k) => (this.restores[k] ? [this.restores[k]] : []));
        const final =
            backup?.onDestroy && jobImage
                ? finalBackup(
                      `${name}-final-backup`,
                      planJob(backup, jobImage.image, backup.scripts.backup, { socket: backup.hooks }),
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

/** Disk usage of a stack's backed-up volumes and backup target (see usage.sh). */
export interface DiskUsage {
    volumes: Record<string, { bytes: number; filesystemPercent: number }>;
    target: { bytes: number; filesystemBytes: number; availableBytes: number; filesystemPercent: number };
    /** Thresholds exceeded (diskUsage.maxPercent, maxVolumeSize). */
    alerts: number;
}

/** The usage probe's JSON, or undefined before it ran (preview, mocks). */
export function parseDiskUsage(stdout: string | undefined): DiskUsage | undefined {
    const line = (stdout ?? "").trim().split("\n").pop() ?? "";
    try {
        return line ? (JSON.parse(line) as DiskUsage) : undefined;
    } catch {
        return undefined;
    }
}

/** Forget the names claimed by stacks of this process (for tests that build many programs). */
export function resetClaimedNames(): void {
    claimedNames.clear();
}

function claimNames(component: string, plan: StackPlan, backup: BackupPlan | undefined): void {
    const names = [
        ...plan.volumes.filter((v) => !v.external).map((v) => `volume ${v.dockerName}`),
        ...plan.containers.map((c) => `container ${c.dockerName}`),
        ...(backup ? [`container ${backup.containerName}`] : []),
        `network ${plan.network.dockerName}`,
    ];
    for (const name of names) {
        const owner = claimedNames.get(name);
        if (owner !== undefined && owner !== component) {
            throw new Error(
                `PersistentStack "${component}": Docker ${name} is already managed by PersistentStack "${owner}" in this program; give one of them its own namePrefix`,
            );
        }
    }
    names.forEach((n) => claimedNames.set(n, component));
}

function createVolume(stackName: string, volume: VolumePlan, parent: pulumi.Resource): docker.Volume {
    const guard =
        volume.retainOnDelete || volume.protect
            ? [
                  new VolumeGuard(
                      `${stackName}-guard-${volume.key}`,
                      { volumeName: volume.dockerName, configPath: `volumes.${volume.key}`, fingerprint: volumeFingerprint(volume) },
                      { parent },
                  ),
              ]
            : [];
    return new docker.Volume(
        `${stackName}-vol-${volume.key}`,
        {
            name: volume.dockerName,
            driver: volume.driver,
            driverOpts: volume.driverOpts,
            labels: labelList(volume.labels),
        },
        // Delete first on replacement: the new volume has the same name, so creating it
        // first would return the old volume, which the delete would then remove.
        { parent, retainOnDelete: volume.retainOnDelete, protect: volume.protect, deleteBeforeReplace: true, dependsOn: guard },
    );
}

function createNetwork(stackName: string, network: NetworkPlan, parent: pulumi.Resource): docker.Network {
    return new docker.Network(
        `${stackName}-net`,
        { name: network.dockerName, driver: network.driver, internal: network.internal, labels: labelList(network.labels) },
        { parent, deleteBeforeReplace: true },
    );
}

function pulledImage(stackName: string, container: ContainerPlan, parent: pulumi.Resource): pulumi.Output<string> {
    // One RemoteImage per container key, so names stay stable when containers are
    // added or removed; keepLocally because other stacks may use the same image.
    const image = new docker.RemoteImage(`${stackName}-img-${container.key}`, { name: container.image, keepLocally: true }, { parent });
    return image.imageId;
}

function jobImageOf(
    stackName: string,
    backup: BackupPlan,
    parent: pulumi.Resource,
): { image: pulumi.Output<string>; dependsOn: pulumi.Resource[] } {
    if (!backup.pull) {
        return { image: pulumi.output(backup.image), dependsOn: [] };
    }
    const image = new docker.RemoteImage(`${stackName}-img-backup`, { name: backup.image, keepLocally: true }, { parent });
    // Jobs run by name through the docker CLI; the RemoteImage makes sure it is present.
    return { image: image.name, dependsOn: [image] };
}

function containerArgsOf(container: ContainerPlan, image: pulumi.Input<string>, network: docker.Network): docker.ContainerArgs {
    const envNames = Object.keys(container.env).sort();
    return {
        name: container.dockerName,
        image,
        command: container.command,
        entrypoints: container.entrypoint,
        // Secret values stay secret: pulumi.all keeps the secret bit on the result.
        envs: envNames.length ? pulumi.all(envNames.map((k) => pulumi.interpolate`${k}=${container.env[k]}`)) : undefined,
        workingDir: container.workingDir,
        user: container.user,
        restart: container.restart,
        memory: container.memoryMb,
        labels: labelList(container.labels),
        mounts: container.mounts
            .filter((m) => !m.createHostPath)
            .map((m) => ({
                type: m.type,
                target: m.target,
                source: m.source,
                readOnly: m.readOnly,
                volumeOptions: m.volumeOptions,
                bindOptions: m.bindOptions,
                tmpfsOptions: m.tmpfsOptions,
            })),
        // Binds that create a missing host directory: Docker does that for `-v`
        // binds (the provider's `volumes`), never for `--mount`.
        volumes: container.mounts.some((m) => m.createHostPath)
            ? container.mounts
                  .filter((m) => m.createHostPath)
                  .map((m) => ({ hostPath: m.source, containerPath: m.target, readOnly: m.readOnly }))
            : undefined,
        networksAdvanced: [{ name: network.name, aliases: container.aliases }],
        ports: container.ports.map((p) => ({
            internal: p.internal,
            external: p.external ?? p.internal,
            ip: p.ip,
            protocol: p.protocol ?? "tcp",
        })),
        healthcheck: container.healthcheck
            ? {
                  tests: container.healthcheck.test,
                  interval: container.healthcheck.interval,
                  timeout: container.healthcheck.timeout,
                  retries: container.healthcheck.retries,
                  startPeriod: container.healthcheck.startPeriod,
              }
            : undefined,
    };
}

/** Container inputs that update in place; everything else forces a replacement. */
export const updatableContainerFields = ["restart", "memory", "memorySwap", "cpuShares", "cpus", "maxRetryCount"];

/**
 * A digest of the container inputs whose change replaces the container: the
 * pre-deploy backup runs again exactly when it changes.
 */
export function replacementFingerprint(args: docker.ContainerArgs): pulumi.Output<string> {
    const replacing = Object.fromEntries(Object.entries(args).filter(([k]) => !updatableContainerFields.includes(k)));
    return pulumi.output(replacing).apply((resolved) => crypto.createHash("sha256").update(JSON.stringify(resolved)).digest("hex"));
}
