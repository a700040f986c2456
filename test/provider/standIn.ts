// How tests put the docker provider stand-in (./docker.ts) in front of the
// Pulumi engine, and the one switch that runs them against the real docker
// plugin instead: PDS_DOCKER_PLUGIN=real (the real pulumi-resource-docker
// must then be installed in Pulumi's plugin cache or on PATH).
import * as path from "node:path";

/** The directory holding the `pulumi-resource-docker` launcher of the stand-in. */
export const standInBinDir = path.join(__dirname, "bin");

/** Whether the engine gets the stand-in (default) rather than the real docker plugin. */
export function usingStandIn(): boolean {
    return process.env.PDS_DOCKER_PLUGIN !== "real";
}

/** PATH for the `pulumi` CLI: the stand-in's launcher first (an ambient plugin wins), unless the real plugin is wanted. */
export function pulumiPath(base: string = process.env.PATH ?? ""): string {
    return usingStandIn() ? `${standInBinDir}${path.delimiter}${base}` : base;
}
