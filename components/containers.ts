// Containers: their images and their docker.Container arguments, and the
// fingerprint of the inputs whose change replaces a container.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import type { BackupPlan } from "./backup/plan";
import { labelList } from "./naming";
import type { ContainerPlan } from "./plan";

/** The image id of a container's pulled image (a RemoteImage). */
export function pulledImage(stackName: string, container: ContainerPlan, parent: pulumi.Resource): pulumi.Output<string> {
    // One RemoteImage per container key, so names stay stable when containers are
    // added or removed; keepLocally because other stacks may use the same image.
    const image = new docker.RemoteImage(`${stackName}-img-${container.key}`, { name: container.image, keepLocally: true }, { parent });
    return image.imageId;
}

/** The backup jobs' image: pulled through a RemoteImage unless `pull: false`. */
export function jobImageOf(
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

/** docker.Container arguments of a planned container on the stack network. */
export function containerArgsOf(container: ContainerPlan, image: pulumi.Input<string>, network: docker.Network): docker.ContainerArgs {
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
