// DOCKER PROVIDER STAND-IN, for tests only (never shipped): a Pulumi resource
// provider plugin, served with the Node SDK (@pulumi/pulumi/provider), that
// answers for the `docker` package when the real plugin (pulumi-resource-docker,
// a bridged Terraform provider whose build needs a patched copy of another
// repository) is not installed. The engine finds it as an ambient plugin:
// put test/provider/bin (holding the `pulumi-resource-docker` launcher) first
// on PATH and leave PULUMI_IGNORE_AMBIENT_PLUGINS unset (test/provider/standIn.ts
// does it; PDS_DOCKER_PROVIDER=real leaves the real plugin in charge). It reports
// the plugin version of the installed @pulumi/docker package and drives the
// daemon with the `docker` CLI. PDS_STANDIN_LOG=<file> logs every command.
//
// ============================================================================
// WHAT IT MODELS
// ----------------------------------------------------------------------------
// Types: docker:index/volume:Volume, container:Container, network:Network,
//   remoteImage:RemoteImage. Any other docker type fails its check.
// Provider config: `host` (stack config `docker:host`, or the `host` of an
//   explicit `new docker.Provider(..., {host})`; default $DOCKER_HOST, else the
//   CLI's default) -- every docker command of that provider instance goes to
//   it. Any other non-empty config key (certs, ssh options, registry auth)
//   fails the configure.
// Protocol: no secrets/resources/output values accepted (the engine strips
//   secrets before sending inputs and marks outputs secret again by key), no
//   preview of creates, no detailed diff (so `replaceOnChanges` on an
//   in-place field of these types is not honoured), no import.
// Check: auto-names a Container/Volume/Network without `name`
//   (`<logical name>-<7 hex>`, kept across updates) and lists it in
//   `__defaults`, as the bridge does.
// Diff (test/provider/rules.ts): Terraform rules -- zero values == missing,
//   schema defaults == missing, Optional+Computed fields dropped from the
//   inputs keep their old value, set-typed fields ignore order. Volume and
//   Network: every change replaces. Container: restart/maxRetryCount/memory/
//   memorySwap/cpuShares/cpus/cpuSet update in place (`docker update`, same
//   id); rm/start/attach/logs/mustRun/removeVolumes/destroyGraceSeconds/tmpfs/
//   healthcheck/init/wait/waitTimeout/containerReadRefreshTimeoutMilliseconds
//   change state only; every other change replaces. RemoteImage: keepLocally/
//   forceRemove change state only, others replace. deleteBeforeReplace: always
//   for containers (the real provider's `DeleteBeforeReplace: true`); for
//   volumes and networks when the name was given, not auto-named.
//
// FIELD MAPPING (inputs -> docker CLI; test/provider/cliArgs.ts)
// Volume   `docker volume create [--driver] [--opt k=v]... [--label k=v]... NAME`.
//   Outputs: inputs + name, driver, mountpoint; id = name. Delete:
//   `docker volume rm -f`, retried while "volume is in use" for up to 30 s
//   (the provider's loop; PDS_STANDIN_VOLUME_IN_USE_TIMEOUT_MS shortens it).
// Network  `docker network create [--driver] [--internal] [--attachable]
//   [--ipv6] [--ingress] [--opt] [--label] [--ipam-driver] [--subnet/
//   --gateway/--ip-range/--aux-address per ipamConfigs[]] NAME`. Outputs:
//   inputs + name, driver, scope; id = the docker id. Delete: `docker network
//   rm` (a missing network is not an error).
// RemoteImage  The image must exist locally (`docker image inspect`), else
//   `docker pull` (which fails without a registry, as the provider would).
//   Outputs: inputs + imageId, repoDigest; id = imageId + name.
//   DIFFERENCE: delete NEVER removes the image (the provider runs `docker rmi`
//   unless keepLocally); shared local test images stay.
// Container  `docker create --name NAME ... IMAGE [entrypoints[1:]] CMD...`,
//   then `docker network connect` for the extra networks, uploads (a tar like
//   the provider's piped to `docker cp - ID:/`; numeric owner/group only), and
//   `docker start`. Mapped: name, image, command ("" in it is an error),
//   entrypoints (first -> --entrypoint; DIFFERENCE: the rest is prepended to
//   the command), envs, labels, workingDir, user, hostname, domainname, mounts
//   (volume/bind/tmpfs options; volumeOptions.subpath FAILS on a daemon older
//   than API 1.45, which would silently ignore it), volumes (legacy -v /
//   --volumes-from), networksAdvanced (first via --network, the rest
//   connected; DIFFERENCE: the provider starts on the default bridge and
//   swaps), networkMode, ports, publishAllPorts, restart (+maxRetryCount),
//   healthcheck (DIFFERENCE: ["CMD", ...] becomes a shell-quoted CMD-SHELL),
//   readOnly, tmpfs, capabilities, privileged, init (always sent), stop
//   signal/timeout, memory/memorySwap/memoryReservation/shmSize (MB), cpu*,
//   logDriver/logOpts, dns*, hosts, ulimits, sysctls, securityOpts,
//   groupAdds, devices, pid/ipc/userns/cgroupns modes, runtime, gpus,
//   platform, storageOpts, tty, stdinOpen, rm. Any other non-empty input
//   FAILS the create.
//   Lifecycle, as the provider's Create + Read:
//   * start=false: created only; with mustRun left true it fails (the
//     provider's Read never sees it running) and is removed.
//   * attach=true: `docker start -a` waits for the exit; exitCode (and
//     containerLogs with logs=true) are recorded, a non-zero exit does NOT
//     fail. With mustRun left true the create then fails "container exited
//     immediately" (the provider's docs: exitCode needs mustRun disabled).
//   * mustRun=true: for up to containerReadRefreshTimeoutMilliseconds (15 s)
//     the container must be seen running; if it exited, it is force-removed
//     and the create fails (nothing is left behind).
//   * wait=true: polls the health status until healthy (waitTimeout, 60 s).
//   * rm=true: `--rm`; a container docker removed is kept in state with
//     removed=true and its delete is a no-op.
//   * A failure after the container exists (network connect, upload, start,
//     health wait) is a partial create: the engine keeps it with init errors.
//   Delete: no-op for rm containers; `docker stop -t N` first when
//   destroyGraceSeconds>0 and not attach; then `docker rm -f` (+ -v unless
//   removeVolumes=false). A container that no longer exists FAILS the delete,
//   as the provider's ContainerRemove does (`pulumi refresh` drops it first).
// Read (refresh): a Volume/Network/RemoteImage that is gone, and a Container
//   that is gone or not running while mustRun (the provider's Read), come
//   back with an empty id (deleted from state); otherwise the state with
//   mountpoint/driver/scope/imageId/exitCode re-read.
//
// WHAT IT DOES NOT MODEL
//   Every other docker resource type and function (getNetwork, Image, Service,
//   ...); registry auth and pulls from a registry; TLS/SSH options; import;
//   the full computed state of the real provider (container ipAddress,
//   networkData, ...); image removal on delete; drift detection beyond
//   existence (a refresh does not re-read envs, labels, mounts ...).
// ============================================================================
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as pulumiProvider from "@pulumi/pulumi/provider";
import { docker, DockerOptions, DockerResult } from "../helpers/docker";
import {
    arr,
    containerCreateArgs,
    containerUpdateArgs,
    networkConnectArgs,
    networkCreateArgs,
    uploadTar,
    volumeCreateArgs,
} from "./cliArgs";
import {
    CONTAINER,
    CONTAINER_DOCKER_UPDATE,
    decideDiff,
    DEFAULTS_KEY,
    changedKeys,
    isZero,
    nameOfUrn,
    NETWORK,
    outputsAfterUpdate,
    REMOTE_IMAGE,
    RULES,
    typeOfUrn,
    VOLUME,
    withoutDefaultsKey,
} from "./rules";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A create that failed after the container existed: the engine keeps it with init errors. */
class PartialCreateError extends Error {
    readonly reasons: string[];
    constructor(
        message: string,
        readonly id: string,
        readonly properties: Record<string, any>,
    ) {
        super(message);
        this.reasons = [message];
    }
}

/** The daemon one provider instance talks to. */
class Daemon {
    constructor(readonly host: string | undefined) {}

    run(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
        log(`${this.host ?? "(default host)"}: docker ${args.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(" ")}`);
        return docker(args, { ...opts, env: this.host ? { DOCKER_HOST: this.host } : undefined });
    }

    /** `docker <kind> inspect`, parsed; undefined when the object does not exist. */
    async inspect(kind: "container" | "volume" | "network" | "image", name: string): Promise<any> {
        const r = await this.run([kind, "inspect", name], { allowFail: true });
        if (r.code !== 0) {
            return undefined;
        }
        const parsed = JSON.parse(r.stdout);
        return Array.isArray(parsed) ? parsed[0] : parsed;
    }

    private apiVersion: Promise<string> | undefined;
    serverApiVersion(): Promise<string> {
        this.apiVersion ??= this.run(["version", "--format", "{{.Server.APIVersion}}"]).then((r) => r.stdout.trim());
        return this.apiVersion;
    }
}

/** `v` without undefined values (the protobuf Struct encoder rejects them). */
function plain(v: any): any {
    if (Array.isArray(v)) {
        return v.map((x) => (x === undefined ? null : plain(x)));
    }
    if (v && typeof v === "object") {
        return Object.fromEntries(
            Object.entries(v)
                .filter(([, x]) => x !== undefined)
                .map(([k, x]) => [k, plain(x)]),
        );
    }
    return v;
}

/** Appends a line to $PDS_STANDIN_LOG, when set (stdout belongs to the plugin protocol). */
function log(line: string): void {
    const file = process.env.PDS_STANDIN_LOG;
    if (file) {
        appendFileSync(file, `[docker stand-in ${process.pid}] ${line}\n`);
    }
}

function apiAtLeast(have: string, want: string): boolean {
    const [a1, a2] = have.split(".").map(Number);
    const [b1, b2] = want.split(".").map(Number);
    return a1 > b1 || (a1 === b1 && a2 >= b2);
}

/** The plugin version of the installed @pulumi/docker package (what the program asks the engine for). */
function dockerPackageVersion(): string {
    const pkg = JSON.parse(readFileSync(require.resolve("@pulumi/docker/package.json"), "utf8"));
    return String(pkg.pulumi?.version ?? pkg.version);
}

/** Provider configuration keys the stand-in understands (`version` is the engine's). */
const CONFIG_KEYS = new Set(["host", "version"]);

/** The resource provider. One instance per provider resource (the engine starts one plugin per provider). */
export class DockerStandIn implements pulumiProvider.Provider {
    readonly version = dockerPackageVersion();
    private daemon = new Daemon(process.env.DOCKER_HOST || undefined);

    /** Provider configuration (from Configure): `host` selects the daemon. */
    configure(config: Record<string, any>): void {
        const unsupported = Object.keys(config).filter((k) => !CONFIG_KEYS.has(k) && !isZero(config[k]));
        if (unsupported.length > 0) {
            throw new Error(`docker stand-in: provider config ${unsupported.join(", ")} is not supported (only host)`);
        }
        const host = typeof config.host === "string" && config.host !== "" ? config.host : process.env.DOCKER_HOST || undefined;
        this.daemon = new Daemon(host);
        log(`configured: host=${host ?? "(default)"}`);
    }

    async check(urn: string, olds: any, news: any): Promise<pulumiProvider.CheckResult> {
        const type = typeOfUrn(urn);
        const rules = RULES[type];
        if (!rules) {
            return { inputs: news, failures: [{ property: "", reason: `the docker stand-in does not serve ${type}` }] };
        }
        const inputs: Record<string, any> = { ...news };
        const defaults: string[] = [];
        if (rules.autoName && isZero(inputs.name)) {
            const oldName = olds?.[DEFAULTS_KEY]?.includes("name") ? olds.name : undefined;
            inputs.name = oldName ?? `${nameOfUrn(urn)}-${randomBytes(4).toString("hex").slice(0, 7)}`;
            defaults.push("name");
        }
        inputs[DEFAULTS_KEY] = defaults;
        const failures: pulumiProvider.CheckFailure[] = [];
        if ((type === CONTAINER || type === REMOTE_IMAGE) && isZero(type === CONTAINER ? inputs.image : inputs.name)) {
            const property = type === CONTAINER ? "image" : "name";
            failures.push({ property, reason: `Missing required property '${property}'` });
        }
        return { inputs, failures };
    }

    async diff(_id: string, urn: string, olds: any, news: any): Promise<pulumiProvider.DiffResult> {
        const d = decideDiff(typeOfUrn(urn), olds ?? {}, news ?? {});
        if (!d.changes) {
            return { changes: false };
        }
        return { changes: true, replaces: d.replaces, deleteBeforeReplace: d.deleteBeforeReplace };
    }

    async create(urn: string, news: any): Promise<pulumiProvider.CreateResult> {
        const { id, outs } = await this.createByType(urn, withoutDefaultsKey(news));
        return { id, outs: plain(outs) };
    }

    private createByType(urn: string, inputs: Record<string, any>): Promise<pulumiProvider.CreateResult> {
        switch (typeOfUrn(urn)) {
            case VOLUME:
                return this.createVolume(inputs);
            case NETWORK:
                return this.createNetwork(inputs);
            case REMOTE_IMAGE:
                return this.createRemoteImage(inputs);
            case CONTAINER:
                return this.createContainer(inputs);
            default:
                throw new Error(`the docker stand-in does not serve ${typeOfUrn(urn)}`);
        }
    }

    async update(id: string, urn: string, olds: any, news: any): Promise<pulumiProvider.UpdateResult> {
        const type = typeOfUrn(urn);
        const outs = outputsAfterUpdate(type, olds, news);
        if (type === CONTAINER) {
            const changed = changedKeys(type, olds, news);
            if (changed.some((k) => CONTAINER_DOCKER_UPDATE.includes(k))) {
                if (olds.removed) {
                    throw new Error(`Unable to update a container: ${id} was auto-removed`);
                }
                const r = await this.daemon.run(containerUpdateArgs(outs, id), { allowFail: true });
                if (r.code !== 0) {
                    throw new Error(`Unable to update a container: ${r.stderr.trim()}`);
                }
            }
        }
        return { outs: plain(outs) };
    }

    async delete(id: string, urn: string, props: any): Promise<void> {
        switch (typeOfUrn(urn)) {
            case VOLUME:
                return this.deleteVolume(id);
            case NETWORK:
                return this.deleteNetwork(id);
            case REMOTE_IMAGE:
                return; // never removes a local image (see the header)
            case CONTAINER:
                return this.deleteContainer(id, props ?? {});
            default:
                throw new Error(`the docker stand-in does not serve ${typeOfUrn(urn)}`);
        }
    }

    async read(id: string, urn: string, props: any): Promise<pulumiProvider.ReadResult> {
        const r = await this.readByType(id, urn, props);
        return { id: r.id, props: plain(r.props) };
    }

    private async readByType(id: string, urn: string, props: any): Promise<pulumiProvider.ReadResult> {
        const state: Record<string, any> = { ...(props ?? {}) };
        const gone: pulumiProvider.ReadResult = { id: "", props: {} };
        switch (typeOfUrn(urn)) {
            case VOLUME: {
                const info = await this.daemon.inspect("volume", id);
                return info ? { id, props: { ...state, name: info.Name, driver: info.Driver, mountpoint: info.Mountpoint } } : gone;
            }
            case NETWORK: {
                const info = await this.daemon.inspect("network", id);
                return info ? { id, props: { ...state, name: info.Name, driver: info.Driver, scope: info.Scope } } : gone;
            }
            case REMOTE_IMAGE: {
                const info = await this.daemon.inspect("image", String(state.name ?? ""));
                if (!info) {
                    return gone;
                }
                return { id: `${info.Id}${state.name}`, props: { ...state, imageId: info.Id, repoDigest: arr(info.RepoDigests)[0] ?? "" } };
            }
            case CONTAINER: {
                if (state.removed) {
                    return { id, props: state };
                }
                const info = await this.daemon.inspect("container", id);
                if (!info) {
                    return gone;
                }
                const running = Boolean(info.State?.Running);
                if (!running && (state.mustRun ?? true)) {
                    return gone; // the provider's Read forgets a container that must run but does not
                }
                if (!running) {
                    state.exitCode = info.State?.ExitCode;
                }
                return { id, props: state };
            }
            default:
                throw new Error(`the docker stand-in does not serve ${typeOfUrn(urn)}`);
        }
    }

    // ---- volume -----------------------------------------------------------

    private async createVolume(inputs: Record<string, any>): Promise<pulumiProvider.CreateResult> {
        const name = (await this.daemon.run(volumeCreateArgs(inputs))).stdout.trim();
        const info = await this.daemon.inspect("volume", name);
        return { id: name, outs: { ...inputs, name, driver: info?.Driver ?? inputs.driver, mountpoint: info?.Mountpoint ?? "" } };
    }

    private async deleteVolume(id: string): Promise<void> {
        const deadline = Date.now() + Number(process.env.PDS_STANDIN_VOLUME_IN_USE_TIMEOUT_MS ?? 30_000);
        for (;;) {
            const r = await this.daemon.run(["volume", "rm", "-f", id], { allowFail: true });
            if (r.code === 0) {
                return;
            }
            if (!/volume is in use/i.test(r.stderr) || Date.now() >= deadline) {
                throw new Error(`Unable to remove volume ${id}: ${r.stderr.trim()}`);
            }
            await sleep(Math.min(2000, Math.max(100, deadline - Date.now())));
        }
    }

    // ---- network ----------------------------------------------------------

    private async createNetwork(inputs: Record<string, any>): Promise<pulumiProvider.CreateResult> {
        const id = (await this.daemon.run(networkCreateArgs(inputs))).stdout.trim();
        const info = await this.daemon.inspect("network", id);
        return { id, outs: { ...inputs, name: inputs.name, driver: info?.Driver, scope: info?.Scope } };
    }

    private async deleteNetwork(id: string): Promise<void> {
        const r = await this.daemon.run(["network", "rm", id], { allowFail: true });
        if (r.code !== 0 && !/not found|No such network/i.test(r.stderr)) {
            throw new Error(`Error removing network ${id}: ${r.stderr.trim()}`);
        }
    }

    // ---- remote image -----------------------------------------------------

    private async findImage(name: string): Promise<any> {
        let info = await this.daemon.inspect("image", name);
        if (!info) {
            const pull = await this.daemon.run(["pull", name], { allowFail: true });
            if (pull.code !== 0) {
                throw new Error(`Unable to pull image ${name}: ${(pull.stderr || pull.stdout).trim()}`);
            }
            info = await this.daemon.inspect("image", name);
            if (!info) {
                throw new Error(`image ${name} still missing after pull`);
            }
        }
        return info;
    }

    private async createRemoteImage(inputs: Record<string, any>): Promise<pulumiProvider.CreateResult> {
        const name = String(inputs.name);
        const info = await this.findImage(name);
        const imageId = String(info.Id);
        return { id: `${imageId}${name}`, outs: { ...inputs, imageId, repoDigest: arr<string>(info.RepoDigests)[0] ?? "" } };
    }

    // ---- container --------------------------------------------------------

    private async createContainer(inputs: Record<string, any>): Promise<pulumiProvider.CreateResult> {
        const image = String(inputs.image ?? "");
        const plan = containerCreateArgs(inputs);
        if (plan.needsSubpath) {
            const api = await this.daemon.serverApiVersion();
            if (!apiAtLeast(api, "1.45")) {
                throw new Error(
                    `mounts[].volumeOptions.subpath needs Docker Engine API >= 1.45 (Engine 26+); this daemon speaks ` +
                        `${api} and would silently ignore it, mounting the whole volume`,
                );
            }
        }
        try {
            await this.findImage(image);
        } catch (e) {
            throw new Error(`Unable to create container with image ${image}: ${(e as Error).message}`, { cause: e });
        }
        const start = inputs.start ?? true;
        const attach = inputs.attach ?? false;
        const mustRun = inputs.mustRun ?? true;
        const rm = inputs.rm ?? false;

        const created = await this.daemon.run(plan.args);
        const id = created.stdout.trim().split("\n").pop()!.trim();
        const outs: Record<string, any> = { ...inputs, name: inputs.name };
        const partial = (msg: string) => new PartialCreateError(msg, id, outs);

        for (const n of plan.afterCreateNetworks) {
            const r = await this.daemon.run(networkConnectArgs(n, id), { allowFail: true });
            if (r.code !== 0) {
                throw partial(`Unable to connect to network '${n.name}': ${r.stderr.trim()}`);
            }
        }
        for (const u of arr(inputs.uploads)) {
            let tar: Buffer;
            try {
                tar = uploadTar(u);
            } catch (e) {
                throw partial((e as Error).message);
            }
            const r = await this.daemon.run(["cp", "-", `${id}:/`], { input: tar, allowFail: true });
            if (r.code !== 0) {
                throw partial(`Unable to upload volume content: ${r.stderr.trim()}`);
            }
        }

        if (!start) {
            if (mustRun) {
                await this.removeContainerQuietly(id);
                throw new Error(
                    "container failed to be created: start=false with mustRun=true never reaches the running " +
                        "state, so the provider's Read deletes it (set mustRun: false)",
                );
            }
            return { id, outs };
        }

        const creationTime = Date.now();
        if (attach) {
            const r = await this.daemon.run(["start", "-a", id], { allowFail: true });
            const info = await this.daemon.inspect("container", id);
            if (!info) {
                // rm=true: docker removed it on exit; the provider's Read loses it.
                outs.removed = true;
                outs.exitCode = r.code;
                if (inputs.logs) {
                    outs.containerLogs = r.stdout + r.stderr;
                }
                return { id, outs };
            }
            if (r.code !== 0 && String(info.State?.StartedAt ?? "0001").startsWith("0001")) {
                throw partial(`Unable to start container: ${r.stderr.trim()}`);
            }
            if (info.State?.Running) {
                throw partial(`Unable to wait container end of execution: ${r.stderr.trim()}`);
            }
            // A non-zero exit of the job itself is recorded (exitCode), not a failure.
            if (inputs.logs) {
                outs.containerLogs = r.stdout + r.stderr;
            }
        } else {
            const r = await this.daemon.run(["start", id], { allowFail: true });
            if (r.code !== 0) {
                throw partial(`Unable to start container: ${r.stderr.trim()}`);
            }
        }

        if (inputs.wait) {
            const deadline = Date.now() + Number(inputs.waitTimeout ?? 60) * 1000;
            for (;;) {
                const info = await this.daemon.inspect("container", id);
                if (info?.State?.Health?.Status === "healthy") {
                    break;
                }
                if (Date.now() >= deadline) {
                    throw partial("container failed to be in healthy state in time");
                }
                await sleep(1000);
            }
        }

        // The provider's Read after Create: wait for "running" unless mustRun=false.
        const deadline = Date.now() + Number(inputs.containerReadRefreshTimeoutMilliseconds || 15000);
        await sleep(100); // the provider's StateChangeConf Delay before the first look
        for (;;) {
            const info = await this.daemon.inspect("container", id);
            if (!info) {
                if (rm) {
                    outs.removed = true;
                    return { id, outs };
                }
                throw new Error(`container ${id} disappeared after start`);
            }
            const running = Boolean(info.State?.Running);
            if (running || !mustRun) {
                if (!running) {
                    outs.exitCode = info.State?.ExitCode;
                }
                return { id, outs };
            }
            const finished = Date.parse(info.State?.FinishedAt ?? "");
            if (!Number.isNaN(finished) && finished >= creationTime - 1000) {
                const exit = info.State?.ExitCode;
                const logs = await this.daemon.run(["logs", "--tail", "20", id], { allowFail: true });
                await this.removeContainerQuietly(id);
                throw new Error(
                    `container exited immediately (exit code ${exit}` +
                        `${attach ? "; attach=true needs mustRun=false" : ""}); ` +
                        `it was removed. Last output: ${(logs.stdout + logs.stderr).trim().slice(-800) || "(none)"}`,
                );
            }
            if (Date.now() >= deadline) {
                throw partial(`timeout while waiting for state to become 'running' (last state: ${info.State?.Status})`);
            }
            await sleep(100);
        }
    }

    private async removeContainerQuietly(id: string): Promise<void> {
        await this.daemon.run(["rm", "-f", "-v", id], { allowFail: true });
    }

    private async deleteContainer(id: string, props: Record<string, any>): Promise<void> {
        if (props.rm) {
            return; // the provider just forgets rm containers
        }
        if (!(await this.daemon.inspect("container", id))) {
            throw new Error(`Error deleting container ${id}: No such container (\`pulumi refresh\` drops it from state)`);
        }
        const grace = Number(props.destroyGraceSeconds ?? 0);
        if (!props.attach && grace > 0) {
            const r = await this.daemon.run(["stop", "-t", String(grace), id], { allowFail: true });
            if (r.code !== 0) {
                throw new Error(`Error stopping container ${id}: ${r.stderr.trim()}`);
            }
        }
        const args = ["rm", "-f"];
        if (props.removeVolumes ?? true) {
            args.push("-v");
        }
        args.push(id);
        const r = await this.daemon.run(args, { allowFail: true });
        if (r.code !== 0 || (await this.daemon.inspect("container", id))) {
            throw new Error(`Error deleting container ${id}: ${r.stderr.trim()}`);
        }
    }
}

// ---------------------------------------------------------------------------
// Serving. The Node SDK's server answers Configure itself and drops the
// provider configuration; the stand-in needs `host`, so it takes over the
// Configure handler of the gRPC service the SDK registers.

/** Unwraps the engine's secret envelopes in a configuration value. */
function unwrapSecrets(v: any): any {
    const SIG = "4dabf18193072939515e22adb298388d";
    if (Array.isArray(v)) {
        return v.map(unwrapSecrets);
    }
    if (v && typeof v === "object") {
        if (v[SIG] === "1b47061264138c4ac30d75fd1eb44270") {
            return unwrapSecrets(v.value);
        }
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** The provider configuration of a ConfigureRequest: its `args`, else its `pkg:config:key` variables. */
function configOf(req: any): Record<string, any> {
    const args = req.getArgs?.()?.toJavaScript?.();
    if (args && typeof args === "object") {
        return unwrapSecrets(args);
    }
    const out: Record<string, any> = {};
    req.getVariablesMap().forEach((value: string, key: string) => {
        const k = key.replace(/^docker:(config:)?/, "");
        try {
            out[k] = JSON.parse(value);
        } catch {
            out[k] = value;
        }
    });
    return out;
}

function serve(provider: DockerStandIn): Promise<void> {
    // The @grpc/grpc-js and protobuf modules the SDK's server uses.
    const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/provider/server"));
    const grpc = sdkRequire("@grpc/grpc-js");
    const provproto = sdkRequire("../proto/provider_pb");
    const addService = grpc.Server.prototype.addService;
    grpc.Server.prototype.addService = function (service: unknown, implementation: any) {
        implementation.configure = (call: any, callback: (err: unknown, resp?: unknown) => void) => {
            try {
                provider.configure(configOf(call.request));
            } catch (e) {
                callback({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
                return;
            }
            const resp = new provproto.ConfigureResponse();
            // Plain values only: the engine unwraps secrets and re-marks the outputs.
            resp.setAcceptsecrets(false);
            resp.setAcceptresources(false);
            resp.setAcceptoutputs(false);
            resp.setSupportspreview(false);
            callback(undefined, resp);
        };
        return addService.call(this, service, implementation);
    };
    return pulumiProvider.main(provider, process.argv.slice(2));
}

if (require.main === module) {
    serve(new DockerStandIn()).catch((e) => {
        process.stderr.write(`docker stand-in: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(1);
    });
}
