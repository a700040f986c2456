// Runs a Pulumi program under runtime mocks and records every resource
// registration the way the engine would see it: type, name, resolved inputs and
// the resource options (retainOnDelete, protect, dependsOn, parent,
// deleteBeforeReplace). Unit tests assert on the recording; engine tests run
// the same programs through the real Pulumi engine (test/helpers/engine.ts).
import * as pulumi from "@pulumi/pulumi";

/** One registered resource, as the engine received it. */
export interface RecordedResource {
    /** Type token, e.g. `docker:index/volume:Volume` or `command:local:Command`. */
    type: string;
    /** Logical Pulumi name. */
    name: string;
    urn: string;
    /** Fake physical id the mocks assigned (custom resources only). */
    id?: string;
    /** True for provider (custom) resources, false for components. */
    custom: boolean;
    /** Inputs with Outputs resolved and secrets unwrapped. */
    inputs: Record<string, any>;
    /** Names of inputs the program marked secret. */
    secretInputs: string[];
    options: {
        retainOnDelete: boolean;
        protect: boolean;
        deleteBeforeReplace: boolean;
        /** URNs this resource depends on (explicit dependsOn and data dependencies). */
        dependsOn: string[];
        parent?: string;
        /** Provider reference (`urn::id`) when one was passed explicitly. */
        provider?: string;
        ignoreChanges: string[];
        replaceOnChanges: string[];
    };
}

/** Options for {@link recordProgram}. */
export interface RecordOptions {
    project?: string;
    stack?: string;
    /** Config values keyed `project:key`; objects are JSON-encoded. */
    config?: Record<string, unknown>;
    /** Config keys (as `project:key`) that are secrets. */
    secretKeys?: string[];
    preview?: boolean;
}

/** Result of a recorded run. */
export interface Recording {
    resources: RecordedResource[];
    /** The value the program returned (e.g. its stack outputs), resolved. */
    outputs: any;
}

function mockOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
    const state: Record<string, any> = { ...args.inputs };
    if (args.type === "docker:index/container:Container") {
        state.exitCode = 0;
    }
    if (args.type === "docker:index/remoteImage:RemoteImage") {
        state.imageId = `sha256:mock-${args.inputs.name}`;
        state.repoDigest = `${args.inputs.name}@sha256:mock`;
    }
    if (args.type === "command:local:Command") {
        state.stdout = "";
        state.stderr = "";
    }
    return state;
}

let recording: RecordedResource[] = [];

/**
 * Run `program` under Pulumi mocks and return everything it registered, in
 * registration order (a valid dependency order: the SDK registers a resource
 * only after its inputs and dependsOn have resolved).
 */
export async function recordProgram(program: () => unknown, options: RecordOptions = {}): Promise<Recording> {
    const project = options.project ?? "persistent";
    const stack = options.stack ?? "test";
    recording = [];
    let counter = 0;
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                counter += 1;
                return { id: `${args.name}-id-${counter}`, state: mockOutputs(args) };
            },
            call(args) {
                return args.inputs;
            },
        },
        project,
        stack,
        options.preview ?? false,
    );
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.config ?? {})) {
        config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);
    wrapMonitor();

    const outputs = await pulumi.runtime.runInPulumiStack(async () => program());
    await settle();
    return { resources: recording.filter((r) => r.type !== "pulumi:pulumi:Stack"), outputs };
}

/** Resolve an Output (or plain value) to its value, for assertions. */
export function promiseOf<T>(output: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
    return new Promise((resolve) => pulumi.output(output).apply((value) => resolve(value)));
}

/** Whether an Output is marked secret. */
export async function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
    return pulumi.isSecret(output);
}

function wrapMonitor(): void {
    const monitor: any = pulumi.runtime.getMonitor();
    if (monitor.__recording) {
        return;
    }
    monitor.__recording = true;
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        const entry: RecordedResource = {
            type: req.getType(),
            name: req.getName(),
            urn: "",
            custom: req.getCustom(),
            inputs: {},
            secretInputs: [],
            options: {
                retainOnDelete: req.getRetainondelete?.() ?? false,
                protect: req.getProtect?.() ?? false,
                deleteBeforeReplace: req.getDeletebeforereplace?.() ?? false,
                dependsOn: req.getDependenciesList?.() ?? [],
                parent: req.getParent() || undefined,
                provider: req.getProvider() || undefined,
                ignoreChanges: req.getIgnorechangesList?.() ?? [],
                replaceOnChanges: req.getReplaceonchangesList?.() ?? [],
            },
        };
        const raw = req.getObject()?.toJavaScript?.() ?? {};
        entry.secretInputs = Object.keys(raw).filter((k) => containsSecret(raw[k]));
        recording.push(entry);
        original(req, (err: any, resp: any) => {
            if (!err && resp) {
                entry.urn = resp.getUrn();
                entry.id = resp.getId() || undefined;
                entry.inputs = unwrapSecrets(pulumi.runtime.deserializeProperties(req.getObject()));
            }
            callback(err, resp);
        });
    };
}

const secretSig = "1b47061264138c4ac30d75fd1eb44270";
const sigKey = "4dabf18193072939515e22adb298388d";

/** Replace secret envelopes by their values (the provider sees plain values too). */
function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    if (value === null || typeof value !== "object") {
        return value;
    }
    if (value[sigKey] === secretSig) {
        return unwrapSecrets(value.value);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
}
function containsSecret(value: any): boolean {
    if (value === null || typeof value !== "object") {
        return false;
    }
    if (value[sigKey] === secretSig) {
        return true;
    }
    return Object.values(value).some(containsSecret);
}

async function settle(): Promise<void> {
    // Registrations chain on one another's outputs; wait until no new ones appear.
    let seen = -1;
    while (seen !== recording.length || recording.some((r) => r.urn === "")) {
        seen = recording.length;
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}
