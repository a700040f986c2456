// The plan of what a stack creates: a pure function from validated args to
// names, labels and provider-shaped mounts. PersistentStack only turns the plan
// into resources, so everything here is tested without Pulumi.
import type * as pulumi from "@pulumi/pulumi";
import { defaultNamePrefix, dockerName, managedLabels, StackContext } from "./naming";
import type { ContainerSpec, HealthcheckSpec, PersistentStackArgs, PortSpec } from "./types";

/** A volume to create (or adopt, when external). */
export interface VolumePlan {
    key: string;
    dockerName: string;
    external: boolean;
    driver?: string;
    driverOpts?: Record<string, string>;
    labels: Record<string, string>;
    retainOnDelete: boolean;
    protect: boolean;
}

/** A mount in the docker provider's `ContainerMount` shape. */
export interface MountPlan {
    type: "volume" | "bind" | "tmpfs";
    target: string;
    /** Docker volume name or host path; absent for tmpfs. */
    source?: string;
    readOnly?: boolean;
    /** Key of the declared volume mounted, for volume mounts. */
    volumeKey?: string;
    volumeOptions?: { noCopy?: boolean; subpath?: string };
    bindOptions?: { propagation: string };
    /** Bind mounts: create a missing host directory (goes through Docker's `-v` binds). */
    createHostPath?: boolean;
    tmpfsOptions?: { sizeBytes?: number; mode?: number };
}

/** A container to create. */
export interface ContainerPlan {
    key: string;
    dockerName: string;
    image: pulumi.Input<string>;
    pull: boolean;
    command?: pulumi.Input<string>[];
    entrypoint?: pulumi.Input<string>[];
    env: Record<string, pulumi.Input<string>>;
    workingDir?: string;
    user?: string;
    ports: PortSpec[];
    restart: string;
    healthcheck?: HealthcheckSpec;
    labels: Record<string, string>;
    mounts: MountPlan[];
    aliases: string[];
    memoryMb?: number;
}

/** The stack's network. */
export interface NetworkPlan {
    dockerName: string;
    internal: boolean;
    driver: string;
    labels: Record<string, string>;
}

/** Everything a stack creates. */
export interface StackPlan {
    namePrefix: string;
    volumes: VolumePlan[];
    containers: ContainerPlan[];
    network: NetworkPlan;
}

/** Plan a stack from validated args. */
export function planStack(args: PersistentStackArgs, ctx: StackContext): StackPlan {
    const prefix = args.namePrefix ?? defaultNamePrefix(ctx);
    const protection = { retainOnDelete: true, protect: false, ...args.protection };
    const volumes: VolumePlan[] = Object.entries(args.volumes ?? {}).map(([key, spec]) => ({
        key,
        dockerName: spec.name ?? dockerName(prefix, key),
        external: spec.external ?? false,
        driver: spec.driver,
        driverOpts: spec.driverOpts,
        labels: managedLabels(ctx, "volume", key, args.labels, spec.labels),
        retainOnDelete: spec.retainOnDelete ?? protection.retainOnDelete,
        protect: spec.protect ?? protection.protect,
    }));
    const volumeNames = new Map(volumes.map((v) => [v.key, v.dockerName]));
    const containers = Object.entries(args.containers ?? {}).map(([key, spec]) =>
        planContainer(key, spec, prefix, ctx, args.labels, volumeNames),
    );
    return {
        namePrefix: prefix,
        volumes,
        containers,
        network: {
            dockerName: args.network?.name ?? dockerName(prefix, "net"),
            internal: args.network?.internal ?? false,
            driver: args.network?.driver ?? "bridge",
            labels: managedLabels(ctx, "network", "net", args.labels),
        },
    };
}

function planContainer(
    key: string,
    spec: ContainerSpec,
    prefix: string,
    ctx: StackContext,
    stackLabels: Record<string, string> | undefined,
    volumeNames: Map<string, string>,
): ContainerPlan {
    return {
        key,
        dockerName: spec.name ?? dockerName(prefix, key),
        image: spec.image,
        pull: spec.pull ?? true,
        command: spec.command,
        entrypoint: spec.entrypoint,
        env: spec.env ?? {},
        workingDir: spec.workingDir,
        user: spec.user,
        ports: spec.ports ?? [],
        restart: spec.restart ?? "unless-stopped",
        healthcheck: spec.healthcheck,
        labels: managedLabels(ctx, "container", key, stackLabels, spec.labels),
        mounts: (spec.mounts ?? []).map((m): MountPlan => {
            switch (m.type) {
                case "volume":
                    return {
                        type: "volume",
                        target: m.target,
                        source: volumeNames.get(m.volume ?? ""),
                        volumeKey: m.volume,
                        readOnly: m.readOnly ?? false,
                        ...(m.noCopy || m.subpath ? { volumeOptions: { noCopy: m.noCopy, subpath: m.subpath } } : {}),
                    };
                case "bind":
                    return {
                        type: "bind",
                        target: m.target,
                        source: m.source,
                        readOnly: m.readOnly ?? false,
                        createHostPath: m.createHostPath ?? !m.propagation,
                        ...(m.propagation ? { bindOptions: { propagation: m.propagation } } : {}),
                    };
                default:
                    return {
                        type: "tmpfs",
                        target: m.target,
                        tmpfsOptions: {
                            ...(m.size ? { sizeBytes: parseSize(m.size) } : {}),
                            mode: parseInt(m.mode ?? "1777", 8),
                        },
                    };
            }
        }),
        aliases: [key, ...(spec.networkAliases ?? [])],
        memoryMb: spec.memoryMb,
    };
}

/** Bytes of a size like `512`, `64k`, `64m` or `1g`. */
export function parseSize(size: string): number {
    const match = /^([1-9][0-9]*)([kmg]?)$/i.exec(size.trim());
    if (!match) {
        throw new Error(`invalid size "${size}": use bytes, or a number with k, m or g`);
    }
    const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as "" | "k" | "m" | "g"];
    return Number(match[1]) * unit;
}

/** A Docker name the stack generates itself (e.g. the backup container's), for collision checks. */
export interface GeneratedName {
    kind: "volume" | "container";
    dockerName: string;
    /** What owns it, as a user reads it: `the backup container`. */
    owner: string;
}

/**
 * Collisions of final Docker names, after defaults are applied: two volume
 * keys on one Docker volume (`pgdata.name: shop-prod-uploads` is `uploads`'s
 * default name), or a container named like another or like a container the
 * stack generates. Each problem names the path and the fix.
 */
export function nameCollisions(plan: StackPlan, generated: GeneratedName[] = []): string[] {
    const problems: string[] = [];
    const owners = new Map<string, string>();
    const claim = (kind: string, dockerName: string, path: string, owner: string, explicit: boolean) => {
        const previous = owners.get(`${kind} ${dockerName}`);
        if (previous === undefined) {
            owners.set(`${kind} ${dockerName}`, owner);
            return;
        }
        problems.push(
            `${path}: ${kind} name "${dockerName}" is also ${previous}'s; two keys would share one Docker ${kind}; ${explicit ? "set another name" : "rename the key or set a name"}`,
        );
    };
    for (const g of generated) {
        owners.set(`${g.kind} ${g.dockerName}`, g.owner);
    }
    const volumes = [...plan.volumes].sort(
        (a, b) => Number(a.dockerName !== dockerName(plan.namePrefix, a.key)) - Number(b.dockerName !== dockerName(plan.namePrefix, b.key)),
    );
    for (const v of volumes) {
        const explicit = v.dockerName !== dockerName(plan.namePrefix, v.key);
        claim("volume", v.dockerName, `volumes.${v.key}${explicit ? ".name" : ""}`, `volumes.${v.key}`, explicit);
    }
    for (const c of plan.containers) {
        const explicit = c.dockerName !== dockerName(plan.namePrefix, c.key);
        claim("container", c.dockerName, `containers.${c.key}${explicit ? ".name" : ""}`, `containers.${c.key}`, explicit);
    }
    return problems;
}
