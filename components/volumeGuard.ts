// Docker volumes are immutable: a change to driver, driverOpts or labels makes
// the provider replace the volume. For a retained volume that replacement is
// silent data loss in disguise: the new resource adopts the old name while the
// data stays with a volume Pulumi no longer tracks (or, without retention, is
// deleted). VolumeGuard is a tiny dynamic resource, one per stack, that every
// protected volume depends on; its diff runs during `pulumi preview` and fails
// it, naming each such volume and the migration path, before any volume is
// touched. (One per stack rather than one per volume: a dynamic resource costs
// as much to construct as a volume and a container together.)
import * as pulumi from "@pulumi/pulumi";

/** One guarded volume. */
export interface GuardedVolume {
    /** Docker volume name. */
    volumeName: string;
    /** Path of the volume in config, e.g. `volumes.pgdata`. */
    configPath: string;
    /** Canonical JSON of the fields whose change forces a replacement. */
    fingerprint: string;
}

/** Inputs of a VolumeGuard: the stack's protected volumes by config key. */
export interface VolumeGuardState {
    volumes: Record<string, GuardedVolume>;
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
export function replacementProblem(olds: GuardedVolume, news: GuardedVolume): string | undefined {
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
 * The problems of a change from `olds` to `news`: one per protected volume (the
 * same Docker volume name before and after, whatever its config key) whose
 * immutable fields changed. Volumes added, removed or renamed are no problem.
 */
export function replacementProblems(olds: VolumeGuardState, news: VolumeGuardState): string[] {
    const before = new Map(Object.values(olds.volumes ?? {}).map((v) => [v.volumeName, v]));
    return Object.keys(news.volumes)
        .sort()
        .flatMap((key) => {
            const now = news.volumes[key];
            const was = before.get(now.volumeName);
            const problem = was ? replacementProblem(was, now) : undefined;
            return problem ? [problem] : [];
        });
}

/** The guarded volumes in a canonical order, to compare two states. */
function canonical(state: VolumeGuardState): string {
    const volumes = state.volumes ?? {};
    return JSON.stringify(
        Object.keys(volumes)
            .sort()
            .map((k) => [k, volumes[k].volumeName, volumes[k].configPath, volumes[k].fingerprint]),
    );
}

/**
 * The dynamic provider behind the VolumeGuard: `diff` fails the preview on a
 * replacement of a guarded volume. Serialized into the Pulumi state, so it
 * captures nothing but replacementProblems (itself self-contained).
 */
export const volumeGuardProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: VolumeGuardState) {
        return { id: "volumes", outs: inputs };
    },
    async diff(_id: string, olds: VolumeGuardState, news: VolumeGuardState) {
        const problems = replacementProblems(olds, news);
        if (problems.length) {
            throw new Error(problems.join("\n"));
        }
        return { changes: canonical(olds) !== canonical(news) };
    },
    async update(_id: string, _olds: VolumeGuardState, news: VolumeGuardState) {
        return { outs: news };
    },
};

/** Fails the preview when a protected volume of the stack would be replaced. */
export class VolumeGuard extends pulumi.dynamic.Resource {
    constructor(name: string, state: VolumeGuardState, opts?: pulumi.CustomResourceOptions) {
        super(volumeGuardProvider, name, state, opts, "persistent-docker", "VolumeGuard");
    }
}
