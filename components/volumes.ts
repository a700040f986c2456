// Named volumes: one docker.Volume per declared (non-external) volume, kept on
// destroy by default, with a VolumeGuard in front of every protected one.
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { labelList } from "./naming";
import type { VolumePlan } from "./plan";
import { VolumeGuard, volumeFingerprint } from "./volumeGuard";

/** The Volume (and its guard) of a planned volume. */
export function createVolume(stackName: string, volume: VolumePlan, parent: pulumi.Resource): docker.Volume {
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
