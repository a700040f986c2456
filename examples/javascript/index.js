// One PersistentStack on the engine `pulumi up` reaches by default, from plain
// JavaScript: a volume kept on destroy, a container that mounts it, and a
// backup before the container is replaced.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { PersistentStack } = require("@persistent-docker/stack");

const config = new pulumi.Config();
const image = config.get("image") || "busybox:1.37";
const pull = config.getBoolean("pull") ?? true;

const stack = new PersistentStack("notes", {
    volumes: { data: {}, backups: {} },
    containers: {
        app: {
            image,
            pull,
            command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
            mounts: [{ type: "volume", volume: "data", target: "/data" }],
        },
    },
    backup: { volumes: ["data"], targetVolume: "backups", image, pull },
});

exports.volumeNames = stack.volumeNames;
exports.containerNames = stack.containerNames;
