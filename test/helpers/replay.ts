// REPLAY HARNESS: applies a recording made by recordProgram()
// (test/helpers/pulumiMocks.ts) to the real local Docker daemon, the way
// `pulumi up` / `pulumi destroy` would with the docker (kreuzwerker-based
// @pulumi/docker) and command (@pulumi/command) providers, using the docker CLI
// (test/helpers/docker.ts). The Pulumi CLI and the provider plugins cannot be
// installed here; this is the closest stand-in.
//
// ============================================================================
// ENGINE BEHAVIOUR (what `up` / `destroy` do)
// ----------------------------------------------------------------------------
// * Steps run one at a time in registration order (a valid dependency order).
//   Pulumi runs independent steps in parallel; here the first failure stops
//   everything after it ("later resources are not created"), and what already
//   happened stays in `state`, like a failed `pulumi up`.
// * Diff: per resource, the recorded inputs (after substitution, see below)
//   against the inputs applied last time. Deep-equal with key order ignored and
//   undefined == null == missing. For docker:* types also as in the Terraform
//   SDK: zero values (false, 0, "", [], {}) == missing, schema defaults
//   (container start/mustRun=true, restart="no", logDriver="json-file",
//   removeVolumes=true, port ip/protocol ...) == missing, Optional+Computed
//   fields (container hostname/command/entrypoints/envs/labels/healthcheck/
//   init/user/workingDir ..., volume name/driver, network driver/options)
//   dropped from the inputs keep their old value (no diff), and set-typed
//   fields (envs, labels, mounts, uploads, networksAdvanced, capabilities.add/
//   drop, dns*, hosts, ulimits, devices, volumes ...) compare ignoring order.
// * options.ignoreChanges (top-level or dotted paths) keeps the old value;
//   options.replaceOnChanges ("*", or a path whose top-level key changed)
//   forces a replacement.
// * Replacement: options.deleteBeforeReplace -> delete old, then create new.
//   Dependents whose applied inputs contain the old resource's id or name
//   (approximating Pulumi's property dependencies) and whose referencing field
//   would force a replacement are deleted first (reverse order) and re-created
//   when their turn comes, like Pulumi's dependent-replacement cascade.
//   Otherwise create-before-delete: the new one is created at its position and
//   the old one is deleted at the END of the up, together with removed
//   resources, in reverse order. A fixed container name therefore fails with
//   docker's name conflict, exactly as with the real provider; a fixed volume
//   name is NOT a conflict (`docker volume create` of an existing name returns
//   the existing volume) and the deferred delete of the old one then fails with
//   "volume is in use" or removes the volume the new resource also uses -- also
//   exactly like the real provider.
// * Old resources whose create-before-delete replacement succeeded but whose
//   delete did not happen (a later failure) are kept in `pendingDeletes` and
//   deleted first at the next `up` (Pulumi's pending deletes) or by destroy().
// * protect: replacing (old or new options protected) or deleting (old
//   options) a protected resource fails, as Pulumi does. retainOnDelete: the physical resource is
//   left alone on delete/replace/destroy, only dropped from state.
// * A create that fails after the physical object exists (container created
//   but network connect/upload/start/wait failed) leaves the resource in state
//   with `initErrors` (the bridge reports partial state); the next `up` runs an
//   update step for it even if its inputs did not change. Failures the
//   provider cleans up itself (mustRun, command create) record nothing. When
//   the NEW half of a create-before-delete replacement is left partial, the
//   old resource stays in state and the partial new one becomes a pending
//   delete.
// * Mock substitution: recordings carry the mocks' fake ids
//   (`<name>-id-<n>`, RemoteImage `sha256:mock-<name>` / `<name>@sha256:mock`).
//   Every occurrence (also inside strings, e.g. interpolated into a Command) is
//   replaced by the real value once the resource it belongs to has been
//   applied. Outputs the mocks cannot know (auto-generated names, command
//   stdout, container exitCode, volume mountpoint) are NOT propagated: a
//   program that feeds them into another resource replays with the mocks'
//   value (usually undefined). Give resources explicit names.
// * Auto-naming: a Container/Network/Volume recorded without `name` gets
//   `<logical name>-<7 hex>` (kept across ups), like Pulumi's auto-naming.
// * No refresh: like `pulumi up` without --refresh, state is never re-read.
// * Aliases, import, `deletedWith`, --target, providers other than the local
//   daemon, secrets (inputs are applied in the clear) and parallelism are not
//   modelled.
//
// ============================================================================
// FIELD MAPPING (inputs -> docker CLI) and known differences from the provider
// ----------------------------------------------------------------------------
// pulumi:providers:docker   no-op, kept in state. A `host` other than the local
//   daemon (unset, "", unix:///var/run/docker.sock, or $DOCKER_HOST) FAILS: the
//   harness only targets the local daemon. Other pulumi:providers:*: no-op.
// Component resources (custom=false), pulumi-nodejs:dynamic:Resource (dynamic
//   providers are NOT run) and unknown custom types: no-op, kept in state.
//
// docker:index/volume:Volume  `docker volume create [--driver] [--opt k=v]...
//   [--label k=v]... NAME`. Outputs: inputs + name, driver, mountpoint. Every
//   change replaces (all fields ForceNew). Delete: `docker volume rm -f`,
//   retried while "volume is in use" for up to 30 s (the provider's loop;
//   `volumeInUseTimeoutMs` shortens it); a missing volume is not an error.
//
// docker:index/network:Network  `docker network create [--driver] [--internal]
//   [--attachable] [--ipv6] [--ingress] [--opt k=v] [--label k=v]
//   [--ipam-driver] [--subnet/--gateway/--ip-range/--aux-address per
//   ipamConfigs[]] NAME`. Every change replaces. Delete: `docker network rm`.
//   Outputs: inputs + id, name, driver, scope.
//
// docker:index/remoteImage:RemoteImage  create: the image must exist locally
//   (`docker image inspect`), else `docker pull` -- which fails here (no
//   registry), failing the up as the provider would. Outputs: inputs + imageId,
//   repoDigest. keepLocally/forceRemove changes are state-only updates, others
//   replace. DIFFERENCE: delete NEVER removes the image (the provider runs
//   `docker rmi` unless keepLocally); shared local test images stay.
//
// docker:index/container:Container  `docker create --name NAME ... IMAGE CMD...`
//   image must exist locally (else `docker pull`, which fails), then
//   `docker network connect` for extra networks, uploads, `docker start`.
//   name -> --name            command[] -> args after the image ("" in it is
//   an error, as in the provider)
//   entrypoints[] -> --entrypoint FIRST, the rest prepended to the command.
//       DIFFERENCE: same argv, but inspect shows Entrypoint=[first] and the
//       rest in Cmd (the CLI cannot pass a multi-element entrypoint).
//   envs["K=V"] -> --env       labels[{label,value}] -> --label k=v
//   workingDir -> --workdir    user -> --user    hostname/domainname
//   mounts[] -> --mount type=...,source=...,target=...[,readonly]
//       volumeOptions: noCopy -> volume-nocopy, subpath -> volume-subpath,
//       driverName -> volume-driver, driverOptions -> volume-opt=k=v,
//       labels -> volume-label=k=v; bindOptions.propagation ->
//       bind-propagation; tmpfsOptions.sizeBytes -> tmpfs-size, mode (an
//       integer, e.g. 448) -> tmpfs-mode=<octal>. Fields are CSV-quoted.
//       subpath needs Engine API >= 1.45: an older daemon silently IGNORES it
//       (mounting the whole volume!), so the harness FAILS instead when the
//       daemon's API is older -- the real provider would not.
//   volumes[] (legacy) -> --volumes-from / -v host_or_volume:path[:ro] / -v path
//   networksAdvanced[{name, aliases, ipv4Address, ipv6Address}] -> the first
//       via --network (+ --network-alias/--ip/--ip6), the rest via `docker
//       network connect` before start. With networkMode set, networkMode goes
//       to --network and every networksAdvanced entry is connected.
//       DIFFERENCE: the provider creates on the default bridge, disconnects it
//       and connects each network; the end result is the same.
//   networkMode -> --network ("default" == unset)
//   ports[{internal, external, ip="0.0.0.0", protocol="tcp"}] -> -p ip:ext:int/proto
//   publishAllPorts -> -P      restart (+maxRetryCount) -> --restart no|always|
//       unless-stopped|on-failure[:N]
//   healthcheck{tests, interval, timeout, startPeriod, retries} ->
//       --health-cmd/--health-interval/... ; ["NONE"] -> --no-healthcheck.
//       DIFFERENCE: ["CMD", a, b] becomes CMD-SHELL "a b" (shell-quoted); the
//       CLI has no exec-form health check.
//   uploads[{file, content|contentBase64|source, executable, permissions,
//       owner, group}] -> a tar made like the provider's (one entry named
//       `file`, mode 0644 / 0744 if executable / `permissions` octal, uid/gid
//       from numeric owner/group, else 0) piped to `docker cp - ID:/` after
//       create and before start. Owner/group NAMES are not supported (error).
//   readOnly -> --read-only    tmpfs{path: opts} -> --tmpfs path[:opts]
//   capabilities{add, drop} -> --cap-add/--cap-drop   privileged -> --privileged
//   init -> --init=true|false (the provider always sends Init)
//   stopSignal -> --stop-signal   stopTimeout -> --stop-timeout
//   memory (MB) -> --memory Nm    memorySwap (MB, -1) -> --memory-swap
//   memoryReservation, shmSize (MB) -> --memory-reservation/--shm-size Nm
//   cpuShares/cpus/cpuSet/cpuPeriod/cpuQuota -> --cpu-shares/--cpus/
//       --cpuset-cpus/--cpu-period/--cpu-quota
//   logDriver (default json-file) / logOpts{k: v} -> --log-driver/--log-opt
//   dns/dnsOpts/dnsSearches/hosts/ulimits/sysctls/securityOpts/groupAdds/
//   devices/pidMode/ipcMode/usernsMode/cgroupnsMode/runtime/gpus/platform/
//   storageOpts/tty/stdinOpen/rm -> the matching `docker create` flags.
//   Any other non-empty input FAILS the create ("not supported by the harness").
//
//   Lifecycle, as in the provider's Create + Read:
//   start=false -> created only. DIFFERENCE-PRONE: with mustRun left at its
//       default (true) the provider's Read never sees the container running
//       and fails/deletes it; the harness fails the same way (set mustRun:false).
//   attach=true -> `docker start -a` = start and wait for the exit; exitCode
//       (and containerLogs when logs=true) are recorded in the outputs; a
//       non-zero exit does NOT fail the up. NOTE: the provider's Read then
//       applies mustRun: a one-shot job with mustRun left at true fails with
//       "container exited immediately" (and is deleted) -- the provider's docs:
//       exitCode needs `mustRun` disabled. The harness does the same, so
//       one-shot jobs must say attach:true, mustRun:false.
//   mustRun=true (attach=false) -> for up to 15 s
//       (containerReadRefreshTimeoutMilliseconds) the container must be seen
//       running; if it exited after our start, it is force-removed and the up
//       fails "container exited immediately" (nothing recorded).
//   wait=true -> poll the health status until healthy (waitTimeout, 60 s).
//   rm=true -> --rm: docker removes the container when it exits. The provider
//       then loses it (its Read finds nothing); the harness keeps the entry
//       (outputs.removed = true; exitCode from the CLI when attached) and its
//       delete is a no-op, as the provider's delete is for rm containers.
//   Update in place, as the provider's Update: restart, maxRetryCount,
//       cpuShares, memory, memorySwap, cpuSet, cpus -> `docker update` (the
//       container id is kept). DIFFERENCE FROM A NAIVE "everything else
//       replaces": these are NOT ForceNew in the provider's schema and change
//       state only, the running container is untouched: rm, start, attach,
//       logs, mustRun, removeVolumes, destroyGraceSeconds, tmpfs, healthcheck,
//       init, wait, waitTimeout, containerReadRefreshTimeoutMilliseconds.
//       Every other change replaces.
//   Delete: no-op when rm=true; `docker stop -t N` first when
//       destroyGraceSeconds>0 and not attach; then `docker rm -f` (+ -v unless
//       removeVolumes=false). A container that no longer exists FAILS the
//       delete, as the provider's ContainerRemove does (without a refresh).
//   Outputs: inputs + id (docker id), name, exitCode (when it has exited),
//       containerLogs (attach+logs), removed (rm containers that are gone).
//
// command:local:Command  runs `interpreter` (default ["/bin/sh","-c"]) + the
//   command, cwd `dir` (default process.cwd()), env = process.env + environment
//   (+ PULUMI_COMMAND_STDOUT/STDERR = previous outputs unless
//   addPreviousOutputInEnv=false), `stdin` on standard input. A non-zero exit
//   FAILS the up with the combined output; a failed create records nothing.
//   Outputs: inputs + stdout, stderr (one trailing newline trimmed).
//   Diff: a `triggers` change replaces (create-before-delete: new `create`,
//   then the old `delete` at the end of the up; deleteBeforeReplace: old
//   `delete` first). Any other change runs `update`, or `create` when no
//   `update` is set. Delete runs the OLD `delete` with the OLD environment.
//   assetPaths/archivePaths/logging are ignored.
// ============================================================================

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { RecordedResource } from "./pulumiMocks";
import { docker, DockerError, inspect } from "./docker";

export interface StateEntry {
    /** The recorded resource, with `inputs` replaced by the inputs actually applied. */
    resource: RecordedResource;
    /** Physical id (docker id / volume name / command id). */
    id: string;
    outputs: Record<string, any>;
    /** Set when the create failed after the physical object existed. */
    initErrors?: string[];
}

export interface UpResult {
    created: string[];
    updated: string[];
    replaced: string[];
    deleted: string[];
    /** urn -> outputs, for every resource of the recording that is in state. */
    outputs: Map<string, Record<string, any>>;
}

export interface ReplayOptions {
    log?: (line: string) => void;
    /** How long a volume delete retries "volume is in use" (provider: 30 s). */
    volumeInUseTimeoutMs?: number;
}

/** Thrown by up()/destroy(): names the resource and the step. */
export class ReplayError extends Error {
    constructor(
        readonly resource: string,
        readonly step: string,
        readonly cause: unknown,
    ) {
        super(`replay: ${step} of ${resource} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
        this.name = "ReplayError";
    }
}

/** A create that failed after the physical object was made (kept in state with initErrors). */
class PartialCreateError extends Error {
    constructor(
        message: string,
        readonly id: string,
        readonly outputs: Record<string, any>,
    ) {
        super(message);
    }
}

type DiffKind = "same" | "update" | "replace";

interface TypeSpec {
    /** docker:* (Terraform SDK) diff rules: zero == missing, defaults, computed, sets. */
    tf: boolean;
    defaults?: Record<string, any>;
    computed?: string[];
    sets?: string[];
    /** Fields changed in place (provider Update). Anything else replaces (unless `updateAll`). */
    inPlace?: string[];
    /** Every non-replace change is an update (command, no-op types). */
    updateAll?: boolean;
    /** Fields that always replace (for updateAll types). */
    replaceFields?: string[];
}

const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const NETWORK = "docker:index/network:Network";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
const COMMAND = "command:local:Command";
const DYNAMIC = "pulumi-nodejs:dynamic:Resource";

const CONTAINER_DOCKER_UPDATE = ["restart", "maxRetryCount", "cpuShares", "memory", "memorySwap", "cpuSet", "cpus"];
const CONTAINER_STATE_ONLY = [
    "rm",
    "start",
    "attach",
    "logs",
    "mustRun",
    "removeVolumes",
    "destroyGraceSeconds",
    "tmpfs",
    "healthcheck",
    "init",
    "wait",
    "waitTimeout",
    "containerReadRefreshTimeoutMilliseconds",
];

const SPECS: Record<string, TypeSpec> = {
    [CONTAINER]: {
        tf: true,
        defaults: {
            start: true,
            mustRun: true,
            restart: "no",
            removeVolumes: true,
            logDriver: "json-file",
            waitTimeout: 60,
            containerReadRefreshTimeoutMilliseconds: 15000,
        },
        computed: [
            "hostname",
            "command",
            "entrypoints",
            "envs",
            "labels",
            "healthcheck",
            "init",
            "securityOpts",
            "shmSize",
            "ipcMode",
            "runtime",
            "stopSignal",
            "stopTimeout",
            "user",
            "workingDir",
            "networkMode",
            "cgroupnsMode",
        ],
        sets: [
            "envs",
            "labels",
            "mounts",
            "mounts[].volumeOptions.labels",
            "uploads",
            "networksAdvanced",
            "networksAdvanced[].aliases",
            "volumes",
            "capabilities.add",
            "capabilities.drop",
            "dns",
            "dnsOpts",
            "dnsSearches",
            "securityOpts",
            "groupAdds",
            "hosts",
            "ulimits",
            "devices",
            "links",
        ],
        inPlace: [...CONTAINER_DOCKER_UPDATE, ...CONTAINER_STATE_ONLY],
    },
    [VOLUME]: { tf: true, computed: ["name", "driver", "driverOpts"], sets: ["labels"] },
    [NETWORK]: {
        tf: true,
        computed: ["driver", "options", "ipamConfigs", "ipamDriver"],
        sets: ["labels", "ipamConfigs"],
    },
    [REMOTE_IMAGE]: { tf: true, inPlace: ["keepLocally", "forceRemove"] },
    [COMMAND]: { tf: false, updateAll: true, replaceFields: ["triggers"] },
};
const NOOP_SPEC: TypeSpec = { tf: false, updateAll: true };

// ---------------------------------------------------------------------------
// Value helpers

function isPlainObject(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function isZero(v: unknown): boolean {
    return (
        v === undefined ||
        v === null ||
        v === false ||
        v === 0 ||
        v === "" ||
        (Array.isArray(v) && v.length === 0) ||
        (isPlainObject(v) && Object.keys(v).length === 0)
    );
}

/** Canonical form for comparison (sorted keys, no undefined, sets sorted, zeros dropped for TF). */
function canon(v: any, spec: TypeSpec, path: string): any {
    if (v === undefined || v === null) {
        return undefined;
    }
    if (Array.isArray(v)) {
        let items = v.map((x) => {
            const c = canon(x, spec, `${path}[]`);
            return c === undefined ? null : c;
        });
        if (spec.sets?.includes(path)) {
            items = [...items].sort((a, b) => {
                const sa = JSON.stringify(a);
                const sb = JSON.stringify(b);
                return sa < sb ? -1 : sa > sb ? 1 : 0;
            });
        }
        return spec.tf && items.length === 0 ? undefined : items;
    }
    if (isPlainObject(v)) {
        const out: Record<string, any> = {};
        for (const k of Object.keys(v).sort()) {
            const c = canon(v[k], spec, path ? `${path}.${k}` : k);
            if (c === undefined || (spec.tf && isZero(c))) {
                continue;
            }
            out[k] = c;
        }
        return spec.tf && Object.keys(out).length === 0 ? undefined : out;
    }
    if (spec.tf && isZero(v)) {
        return undefined;
    }
    return v;
}

function withDefaults(type: string, inputs: Record<string, any>): Record<string, any> {
    const spec = SPECS[type];
    const out: Record<string, any> = { ...inputs };
    for (const [k, d] of Object.entries(spec?.defaults ?? {})) {
        if (out[k] === undefined || out[k] === null) {
            out[k] = d;
        }
    }
    if (type === CONTAINER) {
        if (out.networkMode === "default") {
            delete out.networkMode;
        }
        if (Array.isArray(out.ports)) {
            out.ports = out.ports.map((p: any) => ({ ip: "0.0.0.0", protocol: "tcp", ...stripNullish(p) }));
        }
        if (isPlainObject(out.healthcheck)) {
            out.healthcheck = {
                interval: "0s",
                timeout: "0s",
                startPeriod: "0s",
                retries: 0,
                ...stripNullish(out.healthcheck),
            };
        }
    }
    return out;
}

function stripNullish(o: Record<string, any>): Record<string, any> {
    return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== null));
}

function eq(a: any, b: any): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

function getPath(obj: any, path: string[]): any {
    let cur = obj;
    for (const p of path) {
        if (cur === undefined || cur === null) {
            return undefined;
        }
        cur = cur[p];
    }
    return cur;
}

function setPath(obj: any, path: string[], value: any): void {
    let cur = obj;
    for (let i = 0; i < path.length - 1; i++) {
        if (!isPlainObject(cur[path[i]]) && !Array.isArray(cur[path[i]])) {
            cur[path[i]] = {};
        }
        cur = cur[path[i]];
    }
    if (value === undefined) {
        delete cur[path[path.length - 1]];
    } else {
        cur[path[path.length - 1]] = value;
    }
}

function splitPath(p: string): string[] {
    return p
        .replace(/\[(\d+|"[^"]*")\]/g, (_, k: string) => `.${k.replace(/"/g, "")}`)
        .split(".")
        .filter(Boolean);
}

function clone<T>(v: T): T {
    return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

function label(r: RecordedResource): string {
    return `${r.type}::${r.name}`;
}

function labelsToMap(labels: any): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(labels)) {
        for (const l of labels) {
            if (l && l.label !== undefined) {
                out[String(l.label)] = String(l.value ?? "");
            }
        }
    } else if (isPlainObject(labels)) {
        for (const [k, v] of Object.entries(labels)) {
            out[k] = String(v);
        }
    }
    return out;
}

function mapEntries(m: any): [string, string][] {
    return isPlainObject(m) ? Object.entries(m).map(([k, v]) => [k, String(v)]) : [];
}

function arr<T = any>(v: any): T[] {
    return Array.isArray(v) ? v.filter((x) => x !== undefined && x !== null) : [];
}

function shQuote(s: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One field of a `--mount` value, CSV-quoted when needed (the CLI parses it with encoding/csv). */
function csvField(s: string): string {
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function autoName(logical: string): string {
    return `${logical}-${randomBytes(4).toString("hex").slice(0, 7)}`;
}

// ---------------------------------------------------------------------------
// tar (for container uploads): one regular-file entry, ustar (PAX for long names)

function tarHeader(name: string, size: number, mode: number, uid: number, gid: number, type: string): Buffer {
    const h = Buffer.alloc(512, 0);
    const put = (s: string, off: number, len: number) => {
        Buffer.from(s, "utf8").copy(h, off, 0, len);
    };
    const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
    put(name, 0, 100);
    put(oct(mode, 8), 100, 8);
    put(oct(uid, 8), 108, 8);
    put(oct(gid, 8), 116, 8);
    put(oct(size, 12), 124, 12);
    put(oct(Math.floor(Date.now() / 1000), 12), 136, 12);
    put("        ", 148, 8);
    put(type, 156, 1);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    let sum = 0;
    for (const b of h) {
        sum += b;
    }
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    return h;
}

function pad512(b: Buffer): Buffer {
    const rest = b.length % 512;
    return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - rest, 0)]);
}

function makeTar(file: string, content: Buffer, mode: number, uid: number, gid: number): Buffer {
    const parts: Buffer[] = [];
    let name = file;
    if (Buffer.byteLength(file) > 99) {
        // PAX extended header carrying the full path, as Go's archive/tar does.
        const rec = (k: string, v: string) => {
            const body = ` ${k}=${v}\n`;
            let len = body.length + 1;
            while (String(len).length + Buffer.byteLength(body) !== len) {
                len = String(len).length + Buffer.byteLength(body);
            }
            return `${len}${body}`;
        };
        const pax = Buffer.from(rec("path", file), "utf8");
        parts.push(tarHeader("PaxHeaders/file", pax.length, 0o644, 0, 0, "x"), pad512(pax));
        name = file.slice(-99);
    }
    parts.push(tarHeader(name, content.length, mode, uid, gid, "0"), pad512(content));
    parts.push(Buffer.alloc(1024, 0));
    return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// local commands (command:local:Command)

interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
    all: string;
}

function runLocal(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let all = "";
        child.stdout.setEncoding("utf8");
        child.stderr.setEncoding("utf8");
        child.stdout.on("data", (d: string) => {
            stdout += d;
            all += d;
        });
        child.stderr.on("data", (d: string) => {
            stderr += d;
            all += d;
        });
        child.on("error", reject);
        child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, all }));
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.stdin && opts.stdin.length > 0 ? opts.stdin : undefined);
    });
}

// ---------------------------------------------------------------------------

let apiVersionCache: Promise<string> | undefined;
function serverApiVersion(): Promise<string> {
    apiVersionCache ??= docker(["version", "--format", "{{.Server.APIVersion}}"]).then((r) => r.stdout.trim());
    return apiVersionCache;
}

function apiAtLeast(have: string, want: string): boolean {
    const [a1, a2] = have.split(".").map(Number);
    const [b1, b2] = want.split(".").map(Number);
    return a1 > b1 || (a1 === b1 && a2 >= b2);
}

const CONTAINER_SUPPORTED = new Set([
    "name",
    "image",
    "command",
    "entrypoints",
    "envs",
    "workingDir",
    "user",
    "hostname",
    "domainname",
    "mounts",
    "volumes",
    "networksAdvanced",
    "networkMode",
    "ports",
    "publishAllPorts",
    "restart",
    "maxRetryCount",
    "labels",
    "healthcheck",
    "uploads",
    "readOnly",
    "tmpfs",
    "capabilities",
    "privileged",
    "init",
    "stopSignal",
    "stopTimeout",
    "destroyGraceSeconds",
    "memory",
    "memorySwap",
    "memoryReservation",
    "shmSize",
    "cpuShares",
    "cpus",
    "cpuSet",
    "cpuPeriod",
    "cpuQuota",
    "logDriver",
    "logOpts",
    "logs",
    "attach",
    "mustRun",
    "rm",
    "start",
    "wait",
    "waitTimeout",
    "removeVolumes",
    "containerReadRefreshTimeoutMilliseconds",
    "dns",
    "dnsOpts",
    "dnsSearches",
    "hosts",
    "ulimits",
    "sysctls",
    "securityOpts",
    "groupAdds",
    "devices",
    "pidMode",
    "ipcMode",
    "usernsMode",
    "cgroupnsMode",
    "runtime",
    "gpus",
    "platform",
    "storageOpts",
    "tty",
    "stdinOpen",
]);

/** The replay harness: see the header of this file. */
export class ReplayHarness {
    /** urn -> applied resource, physical id and outputs. In dependency order. */
    readonly state = new Map<string, StateEntry>();
    /** Old halves of create-before-delete replacements whose delete has not happened yet. */
    readonly pendingDeletes: StateEntry[] = [];

    private readonly logLine: (line: string) => void;
    private readonly volumeInUseTimeoutMs: number;
    /** mock value -> real value, rebuilt during each up. */
    private subst = new Map<string, string>();
    private substRe: RegExp | undefined;

    constructor(opts: ReplayOptions = {}) {
        this.logLine = opts.log ?? (() => undefined);
        this.volumeInUseTimeoutMs = opts.volumeInUseTimeoutMs ?? 30_000;
    }

    private log(line: string): void {
        this.logLine(line);
    }

    private async dk(args: string[], opts: { input?: string | Buffer; allowFail?: boolean } = {}) {
        this.log(`  $ docker ${args.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(" ")}`);
        return docker(args, opts);
    }

    // =======================================================================
    // up

    async up(resources: RecordedResource[]): Promise<UpResult> {
        const result: UpResult = { created: [], updated: [], replaced: [], deleted: [], outputs: new Map() };
        const seen = new Set<string>();
        for (const r of resources) {
            if (!r.urn) {
                throw new Error(`replay: ${label(r)} has no URN (did the recording finish?)`);
            }
            if (seen.has(r.urn)) {
                throw new Error(`replay: duplicate URN ${r.urn}`);
            }
            seen.add(r.urn);
        }
        const previousOrder = [...this.state.keys()];
        this.subst = new Map();
        this.substRe = undefined;
        try {
            // Pending deletes from an earlier failed up go first, like Pulumi's.
            while (this.pendingDeletes.length > 0) {
                const old = this.pendingDeletes[this.pendingDeletes.length - 1];
                await this.deleteStep(old, "delete (pending from an earlier up)");
                this.pendingDeletes.pop();
                result.deleted.push(label(old.resource));
            }

            const condemned: StateEntry[] = [];
            const forcedRecreate = new Set<string>();
            for (let i = 0; i < resources.length; i++) {
                const rec = resources[i];
                const old = this.state.get(rec.urn);
                const name = label(rec);
                const inputs = this.prepareInputs(rec, old);
                const r: RecordedResource = { ...rec, inputs };
                if (!old) {
                    this.log(`+ create ${name}`);
                    await this.createStep(r);
                    (forcedRecreate.has(r.urn) ? result.replaced : result.created).push(name);
                } else {
                    const kind = this.diff(old, r);
                    if (kind === "same") {
                        old.resource = r;
                    } else if (kind === "update") {
                        this.log(`~ update ${name}`);
                        await this.updateStep(old, r);
                        result.updated.push(name);
                    } else {
                        if (r.options.protect || old.resource.options.protect) {
                            throw new ReplayError(
                                name,
                                "replace",
                                new Error("the resource is protected; unprotect it before it can be replaced"),
                            );
                        }
                        if (r.options.deleteBeforeReplace) {
                            this.log(`-+ replace (delete before create) ${name}`);
                            for (const dep of this.cascade(resources, i, old)) {
                                const depEntry = this.state.get(dep)!;
                                this.log(`- delete dependent ${label(depEntry.resource)} (replaced with ${name})`);
                                await this.deleteStep(depEntry, "delete (dependent of a delete-before-replace)");
                                this.state.delete(dep);
                                forcedRecreate.add(dep);
                            }
                            await this.deleteStep(old, "delete (replacement)");
                            this.state.delete(r.urn);
                            await this.createStep(r);
                        } else {
                            this.log(`+- replace (create before delete) ${name}`);
                            await this.createStep(r, old);
                            condemned.push(old);
                            this.pendingDeletes.push(old);
                        }
                        result.replaced.push(name);
                    }
                }
                this.learn(rec, this.state.get(rec.urn));
            }

            // Deletes: removed resources and the old halves of replacements, in reverse order.
            const order = previousOrder;
            const removed = order
                .filter((urn) => !seen.has(urn) && this.state.has(urn))
                .map((urn) => ({ entry: this.state.get(urn)!, idx: order.indexOf(urn), replaced: false }));
            const olds = condemned.map((entry) => ({
                entry,
                idx: order.indexOf(entry.resource.urn),
                replaced: true,
            }));
            const deletes = [...removed, ...olds].sort((a, b) => b.idx - a.idx);
            for (const d of deletes) {
                const name = label(d.entry.resource);
                this.log(`- delete ${name}${d.replaced ? " (replaced)" : ""}`);
                await this.deleteStep(d.entry, d.replaced ? "delete (replaced)" : "delete");
                if (d.replaced) {
                    const at = this.pendingDeletes.indexOf(d.entry);
                    if (at >= 0) {
                        this.pendingDeletes.splice(at, 1);
                    }
                } else {
                    this.state.delete(d.entry.resource.urn);
                    result.deleted.push(name);
                }
            }
        } finally {
            this.reorder(resources, previousOrder);
        }
        for (const r of resources) {
            const e = this.state.get(r.urn);
            if (e) {
                result.outputs.set(r.urn, e.outputs);
            }
        }
        return result;
    }

    // =======================================================================
    // destroy

    async destroy(): Promise<void> {
        while (this.pendingDeletes.length > 0) {
            const old = this.pendingDeletes[this.pendingDeletes.length - 1];
            this.log(`- delete ${label(old.resource)} (pending)`);
            await this.deleteStep(old, "destroy (pending delete)");
            this.pendingDeletes.pop();
        }
        const urns = [...this.state.keys()].reverse();
        for (const urn of urns) {
            const e = this.state.get(urn)!;
            this.log(`- destroy ${label(e.resource)}`);
            await this.deleteStep(e, "destroy");
            this.state.delete(urn);
        }
    }

    // =======================================================================
    // planning helpers

    /** Substitute mock values, keep auto-names, apply ignoreChanges. */
    private prepareInputs(r: RecordedResource, old: StateEntry | undefined): Record<string, any> {
        const inputs = this.substitute(clone(r.inputs ?? {}));
        if ([CONTAINER, VOLUME, NETWORK].includes(r.type) && r.custom && isZero(inputs.name)) {
            inputs.name = old?.resource.inputs.name ?? autoName(r.name);
            this.log(`  (auto-named ${label(r)} ${inputs.name})`);
        }
        if (old) {
            for (const p of r.options.ignoreChanges ?? []) {
                const path = splitPath(p);
                setPath(inputs, path, clone(getPath(old.resource.inputs, path)));
            }
        }
        return inputs;
    }

    private substitute(v: any): any {
        if (this.subst.size === 0) {
            return v;
        }
        if (typeof v === "string") {
            if (!this.substRe) {
                const keys = [...this.subst.keys()].sort((a, b) => b.length - a.length);
                this.substRe = new RegExp(keys.map((k) => `${k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![0-9])`).join("|"), "g");
            }
            return v.replace(this.substRe, (m) => this.subst.get(m) ?? m);
        }
        if (Array.isArray(v)) {
            return v.map((x) => this.substitute(x));
        }
        if (isPlainObject(v)) {
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.substitute(x)]));
        }
        return v;
    }

    /** Remember which mock values stand for which real ones. */
    private learn(rec: RecordedResource, entry: StateEntry | undefined): void {
        if (!entry) {
            return;
        }
        this.substRe = undefined;
        if (rec.id && entry.id && rec.id !== entry.id) {
            this.subst.set(rec.id, entry.id);
        }
        if (rec.type === REMOTE_IMAGE && rec.inputs?.name) {
            const n = String(rec.inputs.name);
            if (entry.outputs.imageId) {
                this.subst.set(`sha256:mock-${n}`, String(entry.outputs.imageId));
            }
            this.subst.set(`${n}@sha256:mock`, String(entry.outputs.repoDigest || n));
        }
    }

    private changedKeys(type: string, oldInputs: Record<string, any>, newInputs: Record<string, any>): string[] {
        const spec = SPECS[type] ?? NOOP_SPEC;
        const o = withDefaults(type, oldInputs);
        const n = withDefaults(type, newInputs);
        const keys = new Set([...Object.keys(o), ...Object.keys(n)]);
        const changed: string[] = [];
        for (const k of keys) {
            const co = canon(o[k], spec, k);
            const cn = canon(n[k], spec, k);
            if (cn === undefined && spec.computed?.includes(k)) {
                continue; // Optional+Computed: dropping it keeps the old value
            }
            if (!eq(co, cn)) {
                changed.push(k);
            }
        }
        return changed.sort();
    }

    private classify(type: string, custom: boolean, changed: string[], r: RecordedResource): DiffKind {
        if (changed.length === 0) {
            return "same";
        }
        const roc = r.options.replaceOnChanges ?? [];
        if (roc.includes("*") || changed.some((k) => roc.some((p) => splitPath(p)[0] === k))) {
            return custom ? "replace" : "update";
        }
        const spec = SPECS[type] ?? NOOP_SPEC;
        if (spec.updateAll) {
            return changed.some((k) => spec.replaceFields?.includes(k)) ? "replace" : "update";
        }
        return changed.every((k) => spec.inPlace?.includes(k)) ? "update" : "replace";
    }

    private diff(old: StateEntry, r: RecordedResource): DiffKind {
        const changed = this.changedKeys(r.type, old.resource.inputs, r.inputs);
        const kind = this.classify(r.type, r.custom, changed, r);
        if (changed.length > 0) {
            this.log(`  diff ${label(r)}: ${kind} (${changed.join(", ")})`);
        }
        if (kind === "same" && old.initErrors?.length) {
            return "update";
        }
        return kind;
    }

    /**
     * Dependents (later in the recording, in state) that Pulumi would replace
     * together with a delete-before-replace of `old`: they depend on it and
     * their applied inputs contain its id or name in a field that forces a
     * replacement. Returned in registration order.
     */
    private cascade(resources: RecordedResource[], index: number, old: StateEntry): string[] {
        const replacedUrns = new Set([old.resource.urn]);
        const needles = new Map<string, string[]>([[old.resource.urn, this.needles(old)]]);
        const out: string[] = [];
        for (let j = index + 1; j < resources.length; j++) {
            const d = resources[j];
            const entry = this.state.get(d.urn);
            if (!entry || !d.custom) {
                continue;
            }
            const deps = d.options.dependsOn.filter((u) => replacedUrns.has(u));
            if (deps.length === 0) {
                continue;
            }
            const words = deps.flatMap((u) => needles.get(u) ?? []);
            const fields = Object.keys(entry.resource.inputs).filter((k) => {
                const s = JSON.stringify(entry.resource.inputs[k]);
                return words.some((w) => s.includes(w));
            });
            if (fields.length === 0) {
                continue;
            }
            if (this.classify(d.type, d.custom, fields, d) === "replace") {
                out.push(d.urn);
                replacedUrns.add(d.urn);
                needles.set(d.urn, this.needles(entry));
            }
        }
        return out;
    }

    private needles(e: StateEntry): string[] {
        return [e.id, e.outputs?.name, e.resource.inputs?.name]
            .filter((s): s is string => typeof s === "string" && s.length >= 3)
            .filter((s, i, a) => a.indexOf(s) === i);
    }

    /** Keep `state` in dependency order: the recording's order, then leftovers. */
    private reorder(resources: RecordedResource[], previousOrder: string[]): void {
        const entries = new Map(this.state);
        this.state.clear();
        for (const r of resources) {
            const e = entries.get(r.urn);
            if (e) {
                this.state.set(r.urn, e);
                entries.delete(r.urn);
            }
        }
        for (const urn of previousOrder) {
            const e = entries.get(urn);
            if (e) {
                this.state.set(urn, e);
                entries.delete(urn);
            }
        }
        for (const [urn, e] of entries) {
            this.state.set(urn, e);
        }
    }

    // =======================================================================
    // steps

    /** Create `r`; on success (or partial success) it is put in state. */
    private async createStep(r: RecordedResource, replacing?: StateEntry): Promise<void> {
        const name = label(r);
        try {
            const { id, outputs } = await this.create(r);
            this.state.set(r.urn, { resource: r, id, outputs });
        } catch (e) {
            if (e instanceof PartialCreateError) {
                if (!replacing) {
                    this.state.set(r.urn, { resource: r, id: e.id, outputs: e.outputs, initErrors: [e.message] });
                } else {
                    // The old half stays in state; keep the new half as a pending delete.
                    this.pendingDeletes.push({ resource: r, id: e.id, outputs: e.outputs, initErrors: [e.message] });
                }
                throw new ReplayError(name, "create", new Error(e.message));
            }
            throw new ReplayError(name, "create", e);
        }
    }

    private async updateStep(old: StateEntry, r: RecordedResource): Promise<void> {
        try {
            const outputs = await this.update(old, r);
            old.resource = r;
            old.outputs = outputs;
            delete old.initErrors;
        } catch (e) {
            throw new ReplayError(label(r), "update", e);
        }
    }

    /** Physically delete `e` unless retainOnDelete; throws on protect. Does not touch `state`. */
    private async deleteStep(e: StateEntry, step: string): Promise<void> {
        const name = label(e.resource);
        if (e.resource.options.protect) {
            throw new ReplayError(name, step, new Error("the resource is protected; unprotect it before deleting it"));
        }
        if (e.resource.options.retainOnDelete) {
            this.log(`  (retainOnDelete: ${name} left in place)`);
            return;
        }
        try {
            await this.delete(e);
        } catch (err) {
            throw new ReplayError(name, step, err);
        }
    }

    // =======================================================================
    // per-type create / update / delete

    private async create(r: RecordedResource): Promise<{ id: string; outputs: Record<string, any> }> {
        if (!r.custom) {
            return { id: "", outputs: { ...r.inputs } };
        }
        switch (r.type) {
            case VOLUME:
                return this.createVolume(r.inputs);
            case NETWORK:
                return this.createNetwork(r.inputs);
            case REMOTE_IMAGE:
                return this.createRemoteImage(r.inputs);
            case CONTAINER:
                return this.createContainer(r.inputs);
            case COMMAND:
                return this.createCommand(r);
            case DYNAMIC:
                this.log(`  (dynamic resource ${r.name}: its provider is not run)`);
                return { id: r.id ?? r.name, outputs: { ...r.inputs } };
            default:
                if (r.type.startsWith("pulumi:providers:")) {
                    this.checkProvider(r);
                    return { id: r.id ?? r.name, outputs: { ...r.inputs } };
                }
                this.log(`  (unknown type ${r.type}: no-op)`);
                return { id: r.id ?? r.name, outputs: { ...r.inputs } };
        }
    }

    private async update(old: StateEntry, r: RecordedResource): Promise<Record<string, any>> {
        if (!r.custom) {
            return { ...r.inputs };
        }
        switch (r.type) {
            case CONTAINER:
                return this.updateContainer(old, r.inputs);
            case COMMAND:
                return this.updateCommand(old, r);
            case REMOTE_IMAGE:
                return { ...old.outputs, ...r.inputs };
            default:
                if (r.type.startsWith("pulumi:providers:")) {
                    this.checkProvider(r);
                }
                return { ...old.outputs, ...r.inputs };
        }
    }

    private async delete(e: StateEntry): Promise<void> {
        const r = e.resource;
        if (!r.custom) {
            return;
        }
        switch (r.type) {
            case VOLUME:
                return this.deleteVolume(e);
            case NETWORK:
                return this.deleteNetwork(e);
            case REMOTE_IMAGE:
                this.log(`  (RemoteImage ${r.inputs.name}: images are never removed by the harness)`);
                return;
            case CONTAINER:
                return this.deleteContainer(e);
            case COMMAND:
                return this.deleteCommand(e);
            default:
                return;
        }
    }

    private checkProvider(r: RecordedResource): void {
        if (r.type !== "pulumi:providers:docker") {
            return;
        }
        const host = r.inputs.host;
        const local = ["unix:///var/run/docker.sock", "unix:///run/docker.sock", process.env.DOCKER_HOST].filter(Boolean);
        if (host !== undefined && host !== null && host !== "" && !local.includes(host)) {
            throw new Error(`docker provider host ${host} is not the local daemon; the harness only targets the local daemon`);
        }
    }

    // ---- volume -----------------------------------------------------------

    private async createVolume(inputs: Record<string, any>) {
        const args = ["volume", "create"];
        if (inputs.driver) {
            args.push("--driver", String(inputs.driver));
        }
        for (const [k, v] of mapEntries(inputs.driverOpts)) {
            args.push("--opt", `${k}=${v}`);
        }
        for (const [k, v] of Object.entries(labelsToMap(inputs.labels))) {
            args.push("--label", `${k}=${v}`);
        }
        if (inputs.name) {
            args.push(String(inputs.name));
        }
        const name = (await this.dk(args)).stdout.trim();
        const info = await inspect("volume", name);
        return {
            id: name,
            outputs: {
                ...inputs,
                name,
                driver: info?.Driver ?? inputs.driver,
                mountpoint: info?.Mountpoint ?? "",
            },
        };
    }

    private async deleteVolume(e: StateEntry): Promise<void> {
        const deadline = Date.now() + this.volumeInUseTimeoutMs;
        for (;;) {
            const r = await this.dk(["volume", "rm", "-f", e.id], { allowFail: true });
            if (r.code === 0) {
                return;
            }
            if (!/volume is in use/i.test(r.stderr) || Date.now() >= deadline) {
                throw new Error(`Unable to remove volume ${e.id}: ${r.stderr.trim()}`);
            }
            this.log(`  (volume ${e.id} is in use; retrying)`);
            await sleep(Math.min(2000, Math.max(100, deadline - Date.now())));
        }
    }

    // ---- network ----------------------------------------------------------

    private async createNetwork(inputs: Record<string, any>) {
        const args = ["network", "create"];
        if (inputs.driver) {
            args.push("--driver", String(inputs.driver));
        }
        if (inputs.internal) {
            args.push("--internal");
        }
        if (inputs.attachable) {
            args.push("--attachable");
        }
        if (inputs.ingress) {
            args.push("--ingress");
        }
        if (inputs.ipv6) {
            args.push("--ipv6");
        }
        for (const [k, v] of mapEntries(inputs.options)) {
            args.push("--opt", `${k}=${v}`);
        }
        for (const [k, v] of Object.entries(labelsToMap(inputs.labels))) {
            args.push("--label", `${k}=${v}`);
        }
        if (inputs.ipamDriver) {
            args.push("--ipam-driver", String(inputs.ipamDriver));
        }
        for (const [k, v] of mapEntries(inputs.ipamOptions)) {
            args.push("--ipam-opt", `${k}=${v}`);
        }
        for (const c of arr(inputs.ipamConfigs)) {
            if (c.subnet) {
                args.push("--subnet", c.subnet);
            }
            if (c.gateway) {
                args.push("--gateway", c.gateway);
            }
            if (c.ipRange) {
                args.push("--ip-range", c.ipRange);
            }
            for (const [k, v] of mapEntries(c.auxAddress)) {
                args.push("--aux-address", `${k}=${v}`);
            }
        }
        args.push(String(inputs.name));
        const id = (await this.dk(args)).stdout.trim();
        const info = await inspect("network", id);
        return {
            id,
            outputs: { ...inputs, id, name: inputs.name, driver: info?.Driver, scope: info?.Scope },
        };
    }

    private async deleteNetwork(e: StateEntry): Promise<void> {
        const r = await this.dk(["network", "rm", e.id], { allowFail: true });
        if (r.code !== 0 && !/not found|No such network/i.test(r.stderr)) {
            throw new Error(`Error removing network ${e.id}: ${r.stderr.trim()}`);
        }
    }

    // ---- remote image -----------------------------------------------------

    private async findImage(name: string): Promise<any> {
        let info = await inspect("image", name);
        if (!info) {
            const pull = await this.dk(["pull", name], { allowFail: true });
            if (pull.code !== 0) {
                throw new Error(`Unable to pull image ${name}: ${(pull.stderr || pull.stdout).trim()}`);
            }
            info = await inspect("image", name);
            if (!info) {
                throw new Error(`image ${name} still missing after pull`);
            }
        }
        return info;
    }

    private async createRemoteImage(inputs: Record<string, any>) {
        const name = String(inputs.name);
        const info = await this.findImage(name);
        const imageId = String(info.Id);
        const repoDigest = arr<string>(info.RepoDigests)[0] ?? "";
        return { id: `${imageId}${name}`, outputs: { ...inputs, imageId, repoDigest } };
    }

    // ---- container --------------------------------------------------------

    private async createContainer(inputs: Record<string, any>): Promise<{ id: string; outputs: Record<string, any> }> {
        const unsupported = Object.keys(inputs).filter((k) => !CONTAINER_SUPPORTED.has(k) && !isZero(inputs[k]));
        if (unsupported.length > 0) {
            throw new Error(`container input(s) not supported by the replay harness: ${unsupported.join(", ")}`);
        }
        const image = String(inputs.image ?? "");
        if (!image) {
            throw new Error("container has no image");
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

        const { args, afterCreateNetworks } = await this.containerCreateArgs(inputs);
        const created = await this.dk(args);
        const id = created.stdout.trim().split("\n").pop()!.trim();
        const outputs: Record<string, any> = { ...inputs, id, name: inputs.name };
        const partial = (msg: string) => new PartialCreateError(msg, id, outputs);

        for (const n of afterCreateNetworks) {
            const a = ["network", "connect"];
            for (const alias of arr<string>(n.aliases)) {
                a.push("--alias", alias);
            }
            if (n.ipv4Address) {
                a.push("--ip", n.ipv4Address);
            }
            if (n.ipv6Address) {
                a.push("--ip6", n.ipv6Address);
            }
            a.push(String(n.name), id);
            const r = await this.dk(a, { allowFail: true });
            if (r.code !== 0) {
                throw partial(`Unable to connect to network '${n.name}': ${r.stderr.trim()}`);
            }
        }

        for (const u of arr(inputs.uploads)) {
            let tar: Buffer;
            try {
                tar = this.uploadTar(u);
            } catch (e) {
                throw partial((e as Error).message);
            }
            const r = await this.dk(["cp", "-", `${id}:/`], { input: tar, allowFail: true });
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
            return { id, outputs };
        }

        const creationTime = Date.now();
        if (attach) {
            const r = await this.dk(["start", "-a", id], { allowFail: true });
            const info = await inspect("container", id);
            if (!info) {
                // rm=true: docker removed it on exit; the provider's Read loses it.
                outputs.removed = true;
                outputs.exitCode = r.code;
                if (inputs.logs) {
                    outputs.containerLogs = r.stdout + r.stderr;
                }
                this.log(`  (container ${inputs.name} exited ${r.code} and was auto-removed: the provider loses it)`);
                return { id, outputs };
            }
            if (r.code !== 0 && String(info.State?.StartedAt ?? "0001").startsWith("0001")) {
                throw partial(`Unable to start container: ${r.stderr.trim()}`);
            }
            if (info.State?.Running) {
                throw partial(`Unable to wait container end of execution: ${r.stderr.trim()}`);
            }
            // A non-zero exit of the job itself is recorded (exitCode), not a failure.
            if (inputs.logs) {
                outputs.containerLogs = r.stdout + r.stderr;
            }
        } else {
            const r = await this.dk(["start", id], { allowFail: true });
            if (r.code !== 0) {
                throw partial(`Unable to start container: ${r.stderr.trim()}`);
            }
        }

        if (inputs.wait) {
            const deadline = Date.now() + Number(inputs.waitTimeout ?? 60) * 1000;
            for (;;) {
                const info = await inspect("container", id);
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
        const timeout = Number(inputs.containerReadRefreshTimeoutMilliseconds || 15000);
        const deadline = Date.now() + timeout;
        await sleep(100); // the provider's StateChangeConf Delay before the first look
        for (;;) {
            const info = await inspect("container", id);
            if (!info) {
                if (rm) {
                    outputs.removed = true;
                    this.log(`  (container ${inputs.name} was auto-removed (rm): the provider loses it)`);
                    return { id, outputs };
                }
                throw new Error(`container ${id} disappeared after start`);
            }
            const running = Boolean(info.State?.Running);
            if (running || !mustRun) {
                if (!running) {
                    outputs.exitCode = info.State?.ExitCode;
                }
                return { id, outputs };
            }
            const finished = Date.parse(info.State?.FinishedAt ?? "");
            if (!Number.isNaN(finished) && finished >= creationTime - 1000) {
                const exit = info.State?.ExitCode;
                const logs = await this.dk(["logs", "--tail", "20", id], { allowFail: true });
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
        await this.dk(["rm", "-f", "-v", id], { allowFail: true });
    }

    private uploadTar(u: any): Buffer {
        const sources = [u.content, u.contentBase64, u.source].filter((x) => typeof x === "string" && x !== "");
        if (sources.length === 0) {
            throw new Error("error with upload content: one of 'content', 'content_base64', or 'source' must be set");
        }
        if (sources.length > 1) {
            throw new Error("error with upload content: only one of 'content', 'content_base64', or 'source' can be set");
        }
        let content: Buffer;
        if (u.content) {
            content = Buffer.from(String(u.content), "utf8");
        } else if (u.contentBase64) {
            content = Buffer.from(String(u.contentBase64), "base64");
        } else {
            content = readFileSync(String(u.source));
        }
        let mode = u.executable ? 0o744 : 0o644;
        if (u.permissions) {
            mode = parseInt(String(u.permissions), 8);
            if (Number.isNaN(mode)) {
                throw new Error(`upload ${u.file}: permissions ${u.permissions} is not octal`);
            }
        }
        const id = (v: any, what: string): number => {
            if (v === undefined || v === null || v === "") {
                return 0;
            }
            if (/^\d+$/.test(String(v))) {
                return Number(v);
            }
            throw new Error(`upload ${u.file}: ${what} ${v} must be numeric in the replay harness`);
        };
        return makeTar(String(u.file), content, mode, id(u.owner, "owner"), id(u.group, "group"));
    }

    private async containerCreateArgs(inputs: Record<string, any>): Promise<{ args: string[]; afterCreateNetworks: any[] }> {
        const a: string[] = ["create", "--name", String(inputs.name)];
        const flag = (f: string, v: any) => {
            if (!isZero(v)) {
                a.push(f, String(v));
            }
        };
        for (const e of arr<string>(inputs.envs)) {
            a.push("--env", e);
        }
        for (const [k, v] of Object.entries(labelsToMap(inputs.labels))) {
            a.push("--label", `${k}=${v}`);
        }
        flag("--workdir", inputs.workingDir);
        flag("--user", inputs.user);
        flag("--hostname", inputs.hostname);
        flag("--domainname", inputs.domainname);

        // mounts
        let needSubpath = false;
        for (const m of arr(inputs.mounts)) {
            const f: string[] = [`type=${m.type}`];
            if (m.source) {
                f.push(`source=${m.source}`);
            }
            f.push(`target=${m.target}`);
            if (m.readOnly) {
                f.push("readonly");
            }
            if (m.type === "volume" && isPlainObject(m.volumeOptions)) {
                const vo = m.volumeOptions;
                if (vo.noCopy) {
                    f.push("volume-nocopy");
                }
                if (vo.subpath) {
                    needSubpath = true;
                    f.push(`volume-subpath=${vo.subpath}`);
                }
                if (vo.driverName) {
                    f.push(`volume-driver=${vo.driverName}`);
                }
                for (const [k, v] of mapEntries(vo.driverOptions)) {
                    f.push(`volume-opt=${k}=${v}`);
                }
                for (const [k, v] of Object.entries(labelsToMap(vo.labels))) {
                    f.push(`volume-label=${k}=${v}`);
                }
            }
            if (m.type === "bind" && isPlainObject(m.bindOptions) && m.bindOptions.propagation) {
                f.push(`bind-propagation=${m.bindOptions.propagation}`);
            }
            if (m.type === "tmpfs" && isPlainObject(m.tmpfsOptions)) {
                if (m.tmpfsOptions.sizeBytes) {
                    f.push(`tmpfs-size=${m.tmpfsOptions.sizeBytes}`);
                }
                if (m.tmpfsOptions.mode) {
                    f.push(`tmpfs-mode=${Number(m.tmpfsOptions.mode).toString(8)}`);
                }
            }
            if (m.type === "volume" && !m.source) {
                this.log(`  (warning: volume mount at ${m.target} has no source: docker makes an anonymous volume)`);
            }
            a.push("--mount", f.map(csvField).join(","));
        }
        if (needSubpath) {
            const api = await serverApiVersion();
            if (!apiAtLeast(api, "1.45")) {
                throw new Error(
                    `mounts[].volumeOptions.subpath needs Docker Engine API >= 1.45 (Engine 26+); this daemon speaks ` +
                        `${api} and would silently ignore it, mounting the whole volume`,
                );
            }
        }

        // legacy volumes
        for (const v of arr(inputs.volumes)) {
            if (v.fromContainer) {
                a.push("--volumes-from", String(v.fromContainer));
            } else if (!v.containerPath) {
                throw new Error("Invalid volume: container_path is required");
            } else if (v.hostPath || v.volumeName) {
                a.push("-v", `${v.hostPath || v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`);
            } else {
                a.push("-v", String(v.containerPath));
            }
        }

        // networks
        const nets = arr(inputs.networksAdvanced);
        let afterCreateNetworks: any[] = [];
        const mode = inputs.networkMode && inputs.networkMode !== "default" ? String(inputs.networkMode) : "";
        if (mode) {
            a.push("--network", mode);
            afterCreateNetworks = nets;
        } else if (nets.length > 0) {
            const first = nets[0];
            a.push("--network", String(first.name));
            for (const alias of arr<string>(first.aliases)) {
                a.push("--network-alias", alias);
            }
            flag("--ip", first.ipv4Address);
            flag("--ip6", first.ipv6Address);
            afterCreateNetworks = nets.slice(1);
        }

        for (const p of arr(inputs.ports)) {
            const ip = p.ip || "0.0.0.0";
            const host = ip.includes(":") ? `[${ip}]` : ip;
            a.push("-p", `${host}:${p.external ?? ""}:${p.internal}/${p.protocol || "tcp"}`);
        }
        if (inputs.publishAllPorts) {
            a.push("-P");
        }
        const restart = String(inputs.restart || "no");
        a.push("--restart", restart === "on-failure" && inputs.maxRetryCount ? `on-failure:${inputs.maxRetryCount}` : restart);

        if (isPlainObject(inputs.healthcheck)) {
            const h = inputs.healthcheck;
            const tests = arr<string>(h.tests);
            if (tests[0] === "NONE") {
                a.push("--no-healthcheck");
            } else if (tests.length > 0) {
                let cmd = tests.join(" ");
                if (tests[0] === "CMD-SHELL") {
                    cmd = tests.slice(1).join(" ");
                } else if (tests[0] === "CMD") {
                    cmd = tests.slice(1).map(shQuote).join(" ");
                }
                a.push("--health-cmd", cmd);
                for (const [k, f] of [
                    ["interval", "--health-interval"],
                    ["timeout", "--health-timeout"],
                    ["startPeriod", "--health-start-period"],
                    ["startInterval", "--health-start-interval"],
                ]) {
                    if (h[k] && h[k] !== "0s") {
                        a.push(f, String(h[k]));
                    }
                }
                if (h.retries) {
                    a.push("--health-retries", String(h.retries));
                }
            }
        }
        if (inputs.readOnly) {
            a.push("--read-only");
        }
        for (const [p, o] of mapEntries(inputs.tmpfs)) {
            a.push("--tmpfs", o ? `${p}:${o}` : p);
        }
        if (isPlainObject(inputs.capabilities)) {
            for (const c of arr<string>(inputs.capabilities.add)) {
                a.push("--cap-add", c);
            }
            for (const c of arr<string>(inputs.capabilities.drop)) {
                a.push("--cap-drop", c);
            }
        }
        if (inputs.privileged) {
            a.push("--privileged");
        }
        a.push(`--init=${inputs.init ? "true" : "false"}`);
        flag("--stop-signal", inputs.stopSignal);
        flag("--stop-timeout", inputs.stopTimeout);
        if (inputs.memory) {
            a.push("--memory", `${inputs.memory}m`);
        }
        if (inputs.memorySwap) {
            a.push("--memory-swap", Number(inputs.memorySwap) > 0 ? `${inputs.memorySwap}m` : String(inputs.memorySwap));
        }
        if (inputs.memoryReservation) {
            a.push("--memory-reservation", `${inputs.memoryReservation}m`);
        }
        if (inputs.shmSize) {
            a.push("--shm-size", `${inputs.shmSize}m`);
        }
        flag("--cpu-shares", inputs.cpuShares);
        flag("--cpus", inputs.cpus);
        flag("--cpuset-cpus", inputs.cpuSet);
        flag("--cpu-period", inputs.cpuPeriod);
        flag("--cpu-quota", inputs.cpuQuota);
        a.push("--log-driver", String(inputs.logDriver || "json-file"));
        for (const [k, v] of mapEntries(inputs.logOpts)) {
            a.push("--log-opt", `${k}=${v}`);
        }
        for (const d of arr<string>(inputs.dns)) {
            a.push("--dns", d);
        }
        for (const d of arr<string>(inputs.dnsOpts)) {
            a.push("--dns-option", d);
        }
        for (const d of arr<string>(inputs.dnsSearches)) {
            a.push("--dns-search", d);
        }
        for (const h of arr(inputs.hosts)) {
            a.push("--add-host", `${h.host}:${h.ip}`);
        }
        for (const u of arr(inputs.ulimits)) {
            a.push("--ulimit", `${u.name}=${u.soft}:${u.hard}`);
        }
        for (const [k, v] of mapEntries(inputs.sysctls)) {
            a.push("--sysctl", `${k}=${v}`);
        }
        for (const s of arr<string>(inputs.securityOpts)) {
            a.push("--security-opt", s);
        }
        for (const g of arr<string>(inputs.groupAdds)) {
            a.push("--group-add", g);
        }
        for (const d of arr(inputs.devices)) {
            a.push("--device", [d.hostPath, d.containerPath || d.hostPath, d.permissions || "rwm"].join(":"));
        }
        flag("--pid", inputs.pidMode);
        flag("--ipc", inputs.ipcMode);
        flag("--userns", inputs.usernsMode);
        flag("--cgroupns", inputs.cgroupnsMode);
        flag("--runtime", inputs.runtime);
        flag("--gpus", inputs.gpus);
        flag("--platform", inputs.platform);
        for (const [k, v] of mapEntries(inputs.storageOpts)) {
            a.push("--storage-opt", `${k}=${v}`);
        }
        if (inputs.tty) {
            a.push("-t");
        }
        if (inputs.stdinOpen) {
            a.push("-i");
        }
        if (inputs.rm) {
            a.push("--rm");
        }

        const command = arr<string>(inputs.command).map(String);
        if (command.some((c) => c === "")) {
            throw new Error("values for command may not be empty");
        }
        const entrypoints = arr<string>(inputs.entrypoints).map(String);
        if (entrypoints.length > 0) {
            a.push("--entrypoint", entrypoints[0]);
        }
        a.push(String(inputs.image), ...entrypoints.slice(1), ...command);
        return { args: a, afterCreateNetworks };
    }

    private async updateContainer(old: StateEntry, inputs: Record<string, any>): Promise<Record<string, any>> {
        const changed = this.changedKeys(CONTAINER, old.resource.inputs, inputs);
        const outputs = { ...old.outputs, ...inputs, id: old.id, name: old.outputs.name };
        for (const k of CONTAINER_STATE_ONLY) {
            if (changed.includes(k)) {
                this.log(`  (container ${k}: state-only change, the container is untouched, as in the provider)`);
            }
        }
        if (!changed.some((k) => CONTAINER_DOCKER_UPDATE.includes(k))) {
            return outputs;
        }
        if (old.outputs.removed) {
            throw new Error(`Unable to update a container: ${old.id} was auto-removed`);
        }
        const restart = String(inputs.restart || "no");
        const args = [
            "update",
            "--restart",
            restart === "on-failure" && inputs.maxRetryCount ? `on-failure:${inputs.maxRetryCount}` : restart,
        ];
        if (inputs.cpuShares) {
            args.push("--cpu-shares", String(inputs.cpuShares));
        }
        if (inputs.memory) {
            args.push("--memory", `${inputs.memory}m`);
        }
        if (inputs.memorySwap) {
            args.push("--memory-swap", Number(inputs.memorySwap) > 0 ? `${inputs.memorySwap}m` : String(inputs.memorySwap));
        }
        if (inputs.cpuSet) {
            args.push("--cpuset-cpus", String(inputs.cpuSet));
        }
        if (inputs.cpus) {
            args.push("--cpus", String(inputs.cpus));
        }
        args.push(old.id);
        const r = await this.dk(args, { allowFail: true });
        if (r.code !== 0) {
            throw new Error(`Unable to update a container: ${r.stderr.trim()}`);
        }
        return outputs;
    }

    private async deleteContainer(e: StateEntry): Promise<void> {
        const inputs = e.resource.inputs;
        if (inputs.rm) {
            return; // the provider just forgets rm containers
        }
        if (!(await inspect("container", e.id))) {
            throw new Error(
                `Error deleting container ${e.id}: No such container (the provider fails too; ` +
                    `\`pulumi refresh\` would drop it from state)`,
            );
        }
        const grace = Number(inputs.destroyGraceSeconds ?? 0);
        if (!inputs.attach && grace > 0) {
            const r = await this.dk(["stop", "-t", String(grace), e.id], { allowFail: true });
            if (r.code !== 0) {
                throw new Error(`Error stopping container ${e.id}: ${r.stderr.trim()}`);
            }
        }
        const args = ["rm", "-f"];
        if (inputs.removeVolumes ?? true) {
            args.push("-v");
        }
        args.push(e.id);
        const r = await this.dk(args, { allowFail: true });
        if (r.code !== 0 || (await inspect("container", e.id))) {
            throw new Error(`Error deleting container ${e.id}: ${r.stderr.trim()}`);
        }
    }

    // ---- command ----------------------------------------------------------

    private async runCommand(
        command: string,
        inputs: Record<string, any>,
        previous: Record<string, any>,
    ): Promise<{ stdout: string; stderr: string }> {
        const interpreter = arr<string>(inputs.interpreter).length > 0 ? arr<string>(inputs.interpreter) : ["/bin/sh", "-c"];
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const [k, v] of mapEntries(inputs.environment)) {
            env[k] = v;
        }
        if (inputs.addPreviousOutputInEnv !== false) {
            if (previous.stdout) {
                env.PULUMI_COMMAND_STDOUT = String(previous.stdout);
            }
            if (previous.stderr) {
                env.PULUMI_COMMAND_STDERR = String(previous.stderr);
            }
        }
        this.log(`  $ ${interpreter.join(" ")} ${command.length > 200 ? `${command.slice(0, 197)}...` : command}`);
        const r = await runLocal([...interpreter, command], {
            cwd: inputs.dir ? String(inputs.dir) : process.cwd(),
            env,
            stdin: inputs.stdin === undefined ? undefined : String(inputs.stdin),
        });
        if (r.code !== 0) {
            // The real provider quotes the whole command; job commands carry their scripts,
            // so only the start is kept here.
            const shown = command.length > 300 ? `${command.slice(0, 297)}...` : command;
            throw new Error(`exit status ${r.code}: running ${JSON.stringify(shown)}:\n${r.all}`);
        }
        return { stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") };
    }

    private async createCommand(r: RecordedResource) {
        const id = `${r.name}${randomBytes(4).toString("hex")}`;
        const outputs: Record<string, any> = { ...r.inputs };
        if (r.inputs.create) {
            Object.assign(outputs, await this.runCommand(String(r.inputs.create), r.inputs, {}));
        }
        return { id, outputs };
    }

    private async updateCommand(old: StateEntry, r: RecordedResource): Promise<Record<string, any>> {
        const outputs: Record<string, any> = { ...r.inputs, stdout: old.outputs.stdout, stderr: old.outputs.stderr };
        const cmd = r.inputs.update ?? r.inputs.create;
        if (cmd) {
            Object.assign(outputs, await this.runCommand(String(cmd), r.inputs, old.outputs));
        }
        return outputs;
    }

    private async deleteCommand(e: StateEntry): Promise<void> {
        if (e.resource.inputs.delete) {
            await this.runCommand(String(e.resource.inputs.delete), e.resource.inputs, e.outputs);
        }
    }
}

/** Convenience: the error a failed up()/destroy() threw, as a ReplayError (or undefined). */
export function asReplayError(e: unknown): ReplayError | undefined {
    return e instanceof ReplayError ? e : undefined;
}

export { DockerError };
