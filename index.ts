// The program `pulumi up` runs: one PersistentStack built from this stack's
// config (stacks/Pulumi.<stack>.yaml).
import * as pulumi from "@pulumi/pulumi";
import { PersistentStack } from "./components";
import { loadStackArgs } from "./components/config/stackConfig";

const stack = new PersistentStack(pulumi.getProject(), loadStackArgs(new pulumi.Config()));

export const volumeNames = stack.volumeNames;
export const containerNames = stack.containerNames;
export const containerIds = stack.containerIds;
export const networkName = stack.networkName;
export const backupContainerName = stack.backupContainerName;
export const diskUsage = stack.diskUsage;
