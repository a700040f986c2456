// Docker volumes are immutable: a change to driver, driverOpts or labels makes
// the provider replace the volume. For a retained volume that replacement is
// silent data loss in disguise: the new resource adopts the old name while the
// data stays with a volume Pulumi no longer tracks (or, without retention, is
// deleted). VolumeGuard is a tiny dynamic resource beside each protected
// volume; its diff runs during `pulumi preview` and fails it, naming the
// volume and the migration path, before the volume is touched.
import * as pulumi from "@pulumi/pulumi";

/** Inputs of a VolumeGuard. */
export interface VolumeGuardState {
    /** Docker volume name. */
    volumeName: string;
    /** Path of the volume in config, e.g. `volumes.pgdata`. */
    configPath: string;
    /** Canonical JSON of the fields whose change forces a replacement. */
    fingerprint: string;
}

/** Canonical JSON of a volume's immutable fields. */
export function volumeFingerprint(fields: {
    driver?: string;
    driverOpts?: Record<string, string>;
    labels?: Record<string, string>;
}): string {
    const sorted = (m?: Record<string, string>) =>
        Object.keys(m ?? {})
            .sort()
            .map((k) => [k, (m ?? {})[k]]);
    return JSON.stringify({ driver: fields.driver ?? "local", driverOpts: sorted(fields.driverOpts), labels: sorted(fields.labels) });
}

/**
 * The error for a change that would replace a protected volume, or undefined
 * when the change is safe (nothing changed, or the volume name changed, which
 * declares a new volume and leaves the old one and its data in place).
 */
export function replacementProblem(olds: VolumeGuardState, news: VolumeGuardState): string | undefined {
    if (olds.volumeName !== news.volumeName || olds.fingerprint === news.fingerprint) {
        return undefined;
    }
    return (
        `${news.configPath}: changing the driver, driverOpts or labels of volume "${news.volumeName}" would replace it ` +
        `(Docker volumes are immutable) and orphan or lose its data; was ${olds.fingerprint}, now ${news.fingerprint}. ` +
        `To migrate: back up the volume, declare it under a new name, restore into it (README: "Changing a volume's driver or options"). ` +
        `To discard the data instead, set ${news.configPath}.retainOnDelete: false.`
    );
}

/**
 * The dynamic provider behind every VolumeGuard: `diff` fails the preview on a
 * replacement of the guarded volume. Serialized into the Pulumi state, so it
 * captures nothing but replacementProblem (itself self-contained).
 */
export const volumeGuardProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: VolumeGuardState) {
        return { id: inputs.volumeName, outs: inputs };
    },
    async diff(_id: string, olds: VolumeGuardState, news: VolumeGuardState) {
        const problem = replacementProblem(olds, news);
        if (problem) {
            throw new Error(problem);
        }
        return { changes: olds.fingerprint !== news.fingerprint || olds.configPath !== news.configPath };
    },
    async update(_id: string, _olds: VolumeGuardState, news: VolumeGuardState) {
        return { outs: news };
    },
};

/** Fails the preview when a protected volume would be replaced. */
export class VolumeGuard extends pulumi.dynamic.Resource {
    constructor(name: string, state: VolumeGuardState, opts?: pulumi.CustomResourceOptions) {
        super(volumeGuardProvider, name, state, opts, "persistent-docker", "VolumeGuard");
    }
}
