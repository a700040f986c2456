// Named volumes: one docker.Volume per declared (non-external) volume, kept on
// destroy by default, and the stack's VolumeGuard in front of the protected ones.
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { labelList } from "./naming";
import type { VolumePlan } from "./plan";
import { VolumeGuard, volumeFingerprint } from "./volumeGuard";

/**
 * The stack's VolumeGuard over every protected (retained or protected)
 * volume, or undefined when none is protected.
 */
export function createVolumeGuard(stackName: string, volumes: VolumePlan[], parent: pulumi.Resource): VolumeGuard | undefined {
    const guarded = volumes.filter(isGuarded);
    if (!guarded.length) {
        return undefined;
    }
    return new VolumeGuard(
        `${stackName}-guard`,
        {
            volumes: Object.fromEntries(
                guarded.map((v) => [
                    v.key,
                    { volumeName: v.dockerName, configPath: `volumes.${v.key}`, fingerprint: volumeFingerprint(v) },
                ]),
            ),
        },
        { parent },
    );
}

function isGuarded(volume: VolumePlan): boolean {
    return !volume.external && (volume.retainOnDelete || volume.protect);
}

/** The Volume of a planned volume; a protected one waits for the stack's guard. */
export function createVolume(stackName: string, volume: VolumePlan, parent: pulumi.Resource, guard?: VolumeGuard): docker.Volume {
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
        {
            parent,
            retainOnDelete: volume.retainOnDelete,
            protect: volume.protect,
            deleteBeforeReplace: true,
            dependsOn: guard && isGuarded(volume) ? [guard] : [],
        },
    );
}
