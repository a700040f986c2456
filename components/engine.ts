// Which Docker engine a stack talks to. Docker resources reach it through the
// docker provider the stack was given; the one-shot jobs run the docker CLI
// through @pulumi/command, so they must be pointed at the same engine: the
// provider's host, context and TLS material become the CLI's environment.
import * as pulumi from "@pulumi/pulumi";

/** How a docker provider reaches its engine (the docker CLI's equivalents in parentheses). */
export interface EngineSettings {
    /** Daemon address, e.g. `unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host` (DOCKER_HOST). */
    host?: string;
    /** Docker context name (DOCKER_CONTEXT). */
    context?: string;
    /** Directory holding ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH, with DOCKER_TLS_VERIFY=1). */
    certPath?: string;
    /** PEM of the CA certificate (written to ca.pem in a temporary DOCKER_CERT_PATH). */
    caMaterial?: string;
    /** PEM of the client certificate (cert.pem). */
    certMaterial?: string;
    /** PEM of the client key (key.pem). */
    keyMaterial?: string;
}

/** The settings keys a docker provider exposes as outputs and the `docker:` config namespace holds. */
export const engineSettingKeys = ["host", "context", "certPath", "caMaterial", "certMaterial", "keyMaterial"] as const;

/** Environment variables that carry TLS material into a job command (secrets; never in argv). */
export const tlsMaterialEnv = {
    caMaterial: "PDS_DOCKER_CA_PEM",
    certMaterial: "PDS_DOCKER_CERT_PEM",
    keyMaterial: "PDS_DOCKER_KEY_PEM",
} as const;

const tlsFiles = { caMaterial: "ca.pem", certMaterial: "cert.pem", keyMaterial: "key.pem" } as const;

/** What a job command needs to reach an engine with the docker CLI. */
export interface DockerCli {
    /** Environment of the command: DOCKER_HOST, DOCKER_CONTEXT, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, TLS material. */
    environment: Record<string, string>;
    /**
     * Shell run before the job when TLS material is given: writes it to a
     * private temporary DOCKER_CERT_PATH, removed when the command exits.
     */
    setup: string;
}

/**
 * The docker CLI environment that reaches the engine of `settings`. Unset
 * settings add nothing, so the CLI falls back to the environment of `pulumi
 * up`, exactly as the docker provider does.
 */
export function dockerCli(settings: EngineSettings): DockerCli {
    const environment: Record<string, string> = {};
    if (settings.host) {
        environment.DOCKER_HOST = settings.host;
    }
    if (settings.context) {
        environment.DOCKER_CONTEXT = settings.context;
    }
    const material = (Object.keys(tlsMaterialEnv) as Array<keyof typeof tlsMaterialEnv>).filter((k) => settings[k]);
    if (material.length) {
        material.forEach((k) => (environment[tlsMaterialEnv[k]] = settings[k]!));
        environment.DOCKER_TLS_VERIFY = "1";
        const writes = material.map((k) => `printf '%s\\n' "$${tlsMaterialEnv[k]}" > "$DOCKER_CERT_PATH/${tlsFiles[k]}"`);
        const setup = [
            `DOCKER_CERT_PATH="$(mktemp -d)"`,
            `export DOCKER_CERT_PATH`,
            `trap 'rm -rf "$DOCKER_CERT_PATH"' EXIT`,
            `(umask 077 && ${writes.join(" && ")})`,
        ];
        return { environment, setup: setup.join("\n") + "\n" };
    }
    if (settings.certPath) {
        environment.DOCKER_CERT_PATH = settings.certPath;
        environment.DOCKER_TLS_VERIFY = "1";
    }
    return { environment, setup: "" };
}

/**
 * The docker provider a component's docker children will use, resolved the way
 * the Pulumi SDK does (explicit `provider`, then `providers` as an array or a
 * map keyed `docker`, then the parent's), so it can be checked before the
 * component registers anything. Undefined means the default provider.
 */
export function dockerProviderOf(opts: pulumi.ComponentResourceOptions | undefined): pulumi.ProviderResource | undefined {
    const isDocker = (p: pulumi.ProviderResource | undefined) => p !== undefined && packageOf(p) === "docker";
    if (isDocker(opts?.provider)) {
        return opts!.provider;
    }
    const providers = opts?.providers;
    const listed = Array.isArray(providers) ? providers.find(isDocker) : providers?.["docker"];
    return listed ?? opts?.parent?.getProvider("docker:index/container:Container");
}

/**
 * The settings of the engine behind `provider` (its host, context and TLS
 * outputs), or of the default provider (the `docker:` config of the stack).
 * Throws when `provider` does not expose them (it is not a docker.Provider).
 */
export function engineSettingsOf(provider: pulumi.ProviderResource | undefined, where: string): pulumi.Output<EngineSettings> {
    if (provider === undefined) {
        const config = new pulumi.Config("docker");
        const secret = new Set<string>(["caMaterial", "certMaterial", "keyMaterial"]);
        return pulumi.output(
            Object.fromEntries(engineSettingKeys.map((k) => [k, secret.has(k) ? config.getSecret(k) : config.get(k)])),
        ) as pulumi.Output<EngineSettings>;
    }
    const outputs = provider as unknown as Record<string, unknown>;
    if (!pulumi.Output.isInstance(outputs.host)) {
        throw new Error(
            `${where}: cannot tell which Docker engine the provider "${packageOf(provider)}" reaches (it exposes no host output), ` +
                `so the backup and restore jobs would run against the wrong one; pass a docker.Provider, or set dockerHost`,
        );
    }
    return pulumi.output(
        Object.fromEntries(
            engineSettingKeys.map((k) => [
                k,
                pulumi.Output.isInstance(outputs[k]) ? (outputs[k] as pulumi.Output<string | undefined>) : undefined,
            ]),
        ),
    ) as pulumi.Output<EngineSettings>;
}

/**
 * How the jobs of a component reach its engine: the docker provider's
 * settings, with `dockerHost` (when set) replacing the host.
 */
export function jobEngine(
    provider: pulumi.ProviderResource | undefined,
    dockerHost: pulumi.Input<string> | undefined,
    where: string,
): pulumi.Output<DockerCli> {
    if (dockerHost !== undefined) {
        const settings = provider ? tryEngineSettingsOf(provider) : engineSettingsOf(undefined, where);
        return pulumi.all([settings, dockerHost]).apply(([s, host]) => dockerCli({ ...s, host, context: undefined }));
    }
    return engineSettingsOf(provider, where).apply(dockerCli);
}

function tryEngineSettingsOf(provider: pulumi.ProviderResource): pulumi.Output<EngineSettings> {
    try {
        return engineSettingsOf(provider, "");
    } catch {
        return pulumi.output({});
    }
}

// Public at runtime (the SDK keys `providers` arrays by it) but not in its typings.
function packageOf(provider: pulumi.ProviderResource): string {
    return (provider as unknown as { getPackage(): string }).getPackage();
}
