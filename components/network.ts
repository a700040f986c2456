// The stack's private network.
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { labelList } from "./naming";
import type { NetworkPlan } from "./plan";

/** The Network of a stack. */
export function createNetwork(stackName: string, network: NetworkPlan, parent: pulumi.Resource): docker.Network {
    return new docker.Network(
        `${stackName}-net`,
        { name: network.dockerName, driver: network.driver, internal: network.internal, labels: labelList(network.labels) },
        { parent, deleteBeforeReplace: true },
    );
}
