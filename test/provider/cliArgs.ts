// Docker CLI argument lists for the docker provider stand-in
// (test/provider/docker.ts): resource inputs -> `docker volume create`,
// `docker network create`, `docker create`, `docker update`, and the tar an
// upload is copied in with. Pure functions; see the FIELD MAPPING in the
// header of docker.ts for the differences from the real provider.
import { readFileSync } from "node:fs";
import { isPlainObject, isZero } from "./rules";

export function labelsToMap(labels: any): Record<string, string> {
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

export function arr<T = any>(v: any): T[] {
    return Array.isArray(v) ? v.filter((x) => x !== undefined && x !== null) : [];
}

function shQuote(s: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One field of a `--mount` value, CSV-quoted when needed (the CLI parses it with encoding/csv). */
function csvField(s: string): string {
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// ---------------------------------------------------------------------------
// volume, network

export function volumeCreateArgs(inputs: Record<string, any>): string[] {
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
    args.push(String(inputs.name));
    return args;
}

export function networkCreateArgs(inputs: Record<string, any>): string[] {
    const args = ["network", "create"];
    if (inputs.driver) {
        args.push("--driver", String(inputs.driver));
    }
    for (const flag of ["internal", "attachable", "ingress", "ipv6"]) {
        if (inputs[flag]) {
            args.push(`--${flag}`);
        }
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
    return args;
}

// ---------------------------------------------------------------------------
// container

/** Container inputs the stand-in maps; any other non-empty input fails the create. */
export const CONTAINER_SUPPORTED = new Set([
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

/** A network to `docker network connect` after the create. */
export interface NetworkAttachment {
    name: string;
    aliases?: string[];
    ipv4Address?: string;
    ipv6Address?: string;
}

export interface ContainerCreatePlan {
    /** `docker create ...` */
    args: string[];
    /** Networks connected after the create, before the start. */
    afterCreateNetworks: NetworkAttachment[];
    /** Whether a mount uses `volumeOptions.subpath` (needs Engine API >= 1.45). */
    needsSubpath: boolean;
}

/** `docker create` arguments of a container's inputs (throws on inputs the stand-in does not map). */
export function containerCreateArgs(inputs: Record<string, any>): ContainerCreatePlan {
    const unsupported = Object.keys(inputs).filter((k) => !CONTAINER_SUPPORTED.has(k) && !isZero(inputs[k]));
    if (unsupported.length > 0) {
        throw new Error(`container input(s) not supported by the docker stand-in: ${unsupported.join(", ")}`);
    }
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

    let needsSubpath = false;
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
                needsSubpath = true;
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
        a.push("--mount", f.map(csvField).join(","));
    }

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

    const nets = arr<NetworkAttachment>(inputs.networksAdvanced);
    let afterCreateNetworks: NetworkAttachment[] = [];
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
    a.push("--restart", restartPolicy(inputs));

    if (isPlainObject(inputs.healthcheck)) {
        a.push(...healthcheckArgs(inputs.healthcheck));
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
    if (inputs.memoryReservation) {
        a.push("--memory-reservation", `${inputs.memoryReservation}m`);
    }
    if (inputs.shmSize) {
        a.push("--shm-size", `${inputs.shmSize}m`);
    }
    a.push(...resourceLimitArgs(inputs));
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
    return { args: a, afterCreateNetworks, needsSubpath };
}

/** `docker network connect` arguments for one extra network. */
export function networkConnectArgs(n: NetworkAttachment, container: string): string[] {
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
    a.push(String(n.name), container);
    return a;
}

function restartPolicy(inputs: Record<string, any>): string {
    const restart = String(inputs.restart || "no");
    return restart === "on-failure" && inputs.maxRetryCount ? `on-failure:${inputs.maxRetryCount}` : restart;
}

/** Memory and CPU flags, shared by `docker create` and `docker update`. */
function resourceLimitArgs(inputs: Record<string, any>): string[] {
    const a: string[] = [];
    if (inputs.memory) {
        a.push("--memory", `${inputs.memory}m`);
    }
    if (inputs.memorySwap) {
        a.push("--memory-swap", Number(inputs.memorySwap) > 0 ? `${inputs.memorySwap}m` : String(inputs.memorySwap));
    }
    if (inputs.cpuShares) {
        a.push("--cpu-shares", String(inputs.cpuShares));
    }
    if (inputs.cpus) {
        a.push("--cpus", String(inputs.cpus));
    }
    if (inputs.cpuSet) {
        a.push("--cpuset-cpus", String(inputs.cpuSet));
    }
    return a;
}

/** `docker update` arguments for the in-place fields (restart policy, memory, CPU). */
export function containerUpdateArgs(inputs: Record<string, any>, container: string): string[] {
    return ["update", "--restart", restartPolicy(inputs), ...resourceLimitArgs(inputs), container];
}

function healthcheckArgs(h: Record<string, any>): string[] {
    const tests = arr<string>(h.tests);
    if (tests[0] === "NONE") {
        return ["--no-healthcheck"];
    }
    if (tests.length === 0) {
        return [];
    }
    let cmd = tests.join(" ");
    if (tests[0] === "CMD-SHELL") {
        cmd = tests.slice(1).join(" ");
    } else if (tests[0] === "CMD") {
        cmd = tests.slice(1).map(shQuote).join(" ");
    }
    const a = ["--health-cmd", cmd];
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
    return a;
}

// ---------------------------------------------------------------------------
// uploads: one regular-file entry per upload, ustar (PAX for long names), as the provider makes it

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

/** The tar piped to `docker cp - ID:/` for one `uploads[]` entry. */
export function uploadTar(u: any): Buffer {
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
    const numeric = (v: any, what: string): number => {
        if (v === undefined || v === null || v === "") {
            return 0;
        }
        if (/^\d+$/.test(String(v))) {
            return Number(v);
        }
        throw new Error(`upload ${u.file}: ${what} ${v} must be numeric in the docker stand-in`);
    };
    return makeTar(String(u.file), content, mode, numeric(u.owner, "owner"), numeric(u.group, "group"));
}
