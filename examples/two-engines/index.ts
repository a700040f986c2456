// The same stack on two Docker engines: engine A is `engineA:host` if set, else
// the one `pulumi up` reaches by default (DOCKER_HOST or the local socket);
// engine B is set in config (`pulumi config set engineB:host ssh://deploy@docker-b`). Every container,
// volume and backup job of a stack runs on its own engine, so both stacks may
// use the same names.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PersistentStack } from "@persistent-docker/stack";

const config = new pulumi.Config();
const image = config.get("image") ?? "busybox:1.37";
const pull = config.getBoolean("pull") ?? true;

function notes(name: string, provider: docker.Provider): PersistentStack {
    return new PersistentStack(
        name,
        {
            namePrefix: "notes",
            volumes: { data: {}, backups: {} },
            containers: {
                app: {
                    image,
                    pull,
                    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
                    mounts: [{ type: "volume", volume: "data", target: "/data" }],
                },
            },
            backup: { volumes: ["data"], targetVolume: "backups", image, pull, onDestroy: true },
        },
        { provider },
    );
}

const engineA = new docker.Provider("engine-a", { host: new pulumi.Config("engineA").get("host") });
const engineB = new docker.Provider("engine-b", { host: new pulumi.Config("engineB").require("host") });

const a = notes("notes-a", engineA);
const b = notes("notes-b", engineB);

export const engineAVolumes = a.volumeNames;
export const engineAContainers = a.containerNames;
export const engineABackupContainer = a.backupContainerName;
export const engineBVolumes = b.volumeNames;
export const engineBContainers = b.containerNames;
export const engineBBackupContainer = b.backupContainerName;
