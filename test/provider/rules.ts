// Diff rules of the docker provider stand-in (test/provider/docker.ts): which
// input changes are no change at all, which update in place and which force a
// replacement, as the real (Terraform-bridged) docker provider decides them.
// Pure functions over property bags; the provider only calls them.
//
// Terraform SDK semantics (the real provider is a bridged Terraform provider):
//   * zero values (false, 0, "", [], {}) == missing, and schema defaults
//     (container start/mustRun=true, restart="no", logDriver="json-file", ...)
//     == missing;
//   * Optional+Computed fields (container hostname/command/envs/labels/...,
//     volume name/driver/driverOpts, network driver/options/ipam...) dropped
//     from the inputs keep their old value (no diff);
//   * set-typed fields (envs, labels, mounts, networksAdvanced, ...) compare
//     ignoring order;
//   * every change of a field the provider cannot update in place replaces.
// Delete-before-replace, as the bridge sets it: always for containers (the
// provider's `DeleteBeforeReplace: true`), and for volumes and networks whose
// name the user chose (not auto-named: `__defaults` does not list "name").

/** Type tokens served by the stand-in. */
export const VOLUME = "docker:index/volume:Volume";
export const CONTAINER = "docker:index/container:Container";
export const NETWORK = "docker:index/network:Network";
export const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";

/** The bridge's list of input keys it filled in itself (here: an auto-generated `name`). */
export const DEFAULTS_KEY = "__defaults";

/** Per-type diff rules. */
export interface TypeRules {
    /** Schema defaults: a missing value equals the default. */
    defaults: Record<string, unknown>;
    /** Optional+Computed inputs: dropping one keeps the old value. */
    computed: string[];
    /** Outputs that are never inputs (ignored by the diff). */
    outputOnly: string[];
    /** Set-typed fields, by path (`mounts[].volumeOptions.labels`): compared ignoring order. */
    sets: string[];
    /** Fields changed without a replacement (by `docker update`, or in state only). */
    inPlace: string[];
    /** Whether a replacement deletes the old object first. */
    deleteBeforeReplace: "always" | "explicitName" | "never";
    /** Whether a missing `name` is auto-generated (`<logical name>-<7 hex>`). */
    autoName: boolean;
}

/** Container fields the provider's Update applies with `docker update` (the id is kept). */
export const CONTAINER_DOCKER_UPDATE = ["restart", "maxRetryCount", "cpuShares", "memory", "memorySwap", "cpuSet", "cpus"];

/** Container fields that are neither ForceNew nor applied: a change only rewrites state. */
export const CONTAINER_STATE_ONLY = [
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

export const RULES: Record<string, TypeRules> = {
    [CONTAINER]: {
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
        outputOnly: ["exitCode", "containerLogs", "removed"],
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
        deleteBeforeReplace: "always",
        autoName: true,
    },
    [VOLUME]: {
        defaults: {},
        computed: ["name", "driver", "driverOpts"],
        outputOnly: ["mountpoint"],
        sets: ["labels"],
        inPlace: [],
        deleteBeforeReplace: "explicitName",
        autoName: true,
    },
    [NETWORK]: {
        defaults: {},
        computed: ["driver", "options", "ipamConfigs", "ipamDriver"],
        outputOnly: ["scope"],
        sets: ["labels", "ipamConfigs"],
        inPlace: [],
        deleteBeforeReplace: "explicitName",
        autoName: true,
    },
    [REMOTE_IMAGE]: {
        defaults: {},
        computed: [],
        outputOnly: ["imageId", "repoDigest"],
        sets: [],
        inPlace: ["keepLocally", "forceRemove"],
        deleteBeforeReplace: "never",
        autoName: false,
    },
};

/** The engine's placeholder for a value not known yet (during a preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The type token of a URN (`...::parent$docker:index/volume:Volume::name`). */
export function typeOfUrn(urn: string): string {
    const parts = urn.split("::");
    return (parts[2] ?? "").split("$").pop() ?? "";
}

/** The logical name of a URN. */
export function nameOfUrn(urn: string): string {
    return urn.split("::").pop() ?? "";
}

export function isPlainObject(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Terraform's zero values: they read as "not set". */
export function isZero(v: unknown): boolean {
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

/** Canonical form for comparison: sorted keys, zeros dropped, sets sorted. */
function canon(v: any, rules: TypeRules, path: string): any {
    if (v === undefined || v === null) {
        return undefined;
    }
    if (Array.isArray(v)) {
        let items = v.map((x) => canon(x, rules, `${path}[]`) ?? null);
        if (rules.sets.includes(path)) {
            items = items.map((x) => [JSON.stringify(x), x] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
            items = items.map(([, x]) => x);
        }
        return items.length === 0 ? undefined : items;
    }
    if (isPlainObject(v)) {
        const out: Record<string, any> = {};
        for (const k of Object.keys(v).sort()) {
            const c = canon(v[k], rules, path ? `${path}.${k}` : k);
            if (!isZero(c)) {
                out[k] = c;
            }
        }
        return Object.keys(out).length === 0 ? undefined : out;
    }
    return isZero(v) ? undefined : v;
}

function stripNullish(o: Record<string, any>): Record<string, any> {
    return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== null));
}

/** `inputs` with the schema defaults (and nested defaults) filled in. */
function withDefaults(type: string, inputs: Record<string, any>): Record<string, any> {
    const out: Record<string, any> = { ...inputs };
    for (const [k, d] of Object.entries(RULES[type]?.defaults ?? {})) {
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
            out.healthcheck = { interval: "0s", timeout: "0s", startPeriod: "0s", retries: 0, ...stripNullish(out.healthcheck) };
        }
    }
    return out;
}

/** Input keys whose value differs between the old state and the new inputs, sorted. */
export function changedKeys(type: string, olds: Record<string, any>, news: Record<string, any>): string[] {
    const rules = RULES[type];
    if (!rules) {
        throw new Error(`docker stand-in: unknown resource type ${type}`);
    }
    const o = withDefaults(type, olds);
    const n = withDefaults(type, news);
    const changed: string[] = [];
    for (const k of new Set([...Object.keys(o), ...Object.keys(n)])) {
        if (k === "id" || k === "urn" || k === DEFAULTS_KEY || rules.outputOnly.includes(k)) {
            continue;
        }
        const co = canon(o[k], rules, k);
        const cn = canon(n[k], rules, k);
        if (cn === undefined && rules.computed.includes(k)) {
            continue; // Optional+Computed: dropping it keeps the old value
        }
        if (JSON.stringify(co) !== JSON.stringify(cn)) {
            changed.push(k);
        }
    }
    return changed.sort();
}

/** What the engine needs from a Diff: whether anything changed, what replaces, and in which order. */
export interface DiffDecision {
    changes: boolean;
    /** Changed keys that force a replacement (empty: an update in place). */
    replaces: string[];
    deleteBeforeReplace: boolean;
}

/** The provider's Diff: old state (outputs) against new checked inputs. */
export function decideDiff(type: string, olds: Record<string, any>, news: Record<string, any>): DiffDecision {
    const changed = changedKeys(type, olds, news);
    const rules = RULES[type];
    const replaces = changed.filter((k) => !rules.inPlace.includes(k));
    let deleteBeforeReplace = false;
    if (replaces.length > 0) {
        deleteBeforeReplace =
            rules.deleteBeforeReplace === "always" ||
            (rules.deleteBeforeReplace === "explicitName" && !(news[DEFAULTS_KEY] ?? []).includes("name"));
    }
    return { changes: changed.length > 0, replaces, deleteBeforeReplace };
}

/**
 * Outputs after an update in place: the new inputs, plus the old value of every
 * computed or output-only field the new inputs leave out.
 */
export function outputsAfterUpdate(type: string, olds: Record<string, any>, news: Record<string, any>): Record<string, any> {
    const rules = RULES[type];
    const out: Record<string, any> = withoutDefaultsKey(news);
    for (const k of [...rules.computed, ...rules.outputOnly]) {
        if (isZero(out[k]) && olds[k] !== undefined) {
            out[k] = olds[k];
        }
    }
    return out;
}

/** `inputs` without the bridge's bookkeeping key. */
export function withoutDefaultsKey(inputs: Record<string, any>): Record<string, any> {
    const out = { ...inputs };
    delete out[DEFAULTS_KEY];
    return out;
}
