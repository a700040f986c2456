// Stack config files (stacks/Pulumi.<stack>.yaml) as mock config, and a
// recorder for the real program entry (index.ts) under a given stack.
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { recordProgram, Recording } from "./pulumiMocks";

export const repoRoot = path.resolve(__dirname, "../..");
export const projectName = "persistent-docker";

/** The `config:` map of a stack file, keyed `project:key`. */
export function readStackConfig(stack: string): Record<string, unknown> {
    const file = path.join(repoRoot, "stacks", `Pulumi.${stack}.yaml`);
    return parse(fs.readFileSync(file, "utf8")).config ?? {};
}

/**
 * Run the program entry (index.ts) under mocks with a stack's config, plus
 * overrides (e.g. the secrets a user would set with `pulumi config set --secret`).
 */
export async function recordStack(stack: string, overrides: Record<string, unknown> = {}, secretKeys: string[] = []): Promise<Recording> {
    const entry = path.join(repoRoot, "index.ts");
    return recordProgram(
        () => {
            delete require.cache[require.resolve(entry)];
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return { ...require(entry) };
        },
        { project: projectName, stack, config: { ...readStackConfig(stack), ...overrides }, secretKeys },
    );
}

/** The recorded resources of one type. */
export function ofType(recording: Recording, type: string): Recording["resources"] {
    return recording.resources.filter((r) => r.type === type);
}

export const types = {
    volume: "docker:index/volume:Volume",
    container: "docker:index/container:Container",
    network: "docker:index/network:Network",
    image: "docker:index/remoteImage:RemoteImage",
    command: "command:local:Command",
    stack: "persistent-docker:index:PersistentStack",
} as const;
