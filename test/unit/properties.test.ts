// Property-based tests (fast-check): random and mutated configs, through both
// entry points, never crash with an internal error and never register a
// resource when they are refused. A refusal is always a ConfigError.
import * as assert from "assert";
import fc from "fast-check";
import { ConfigError, PersistentStack } from "../../components";
import { configKeys, loadStackArgs } from "../../components/config/stackConfig";
import { cleanPath, cronProblems, isDangerousHostPath } from "../../components/config/schema";
import { attempt, baseConfig, yamlSource } from "../helpers/adversarial";

type Json = any;

/** Values worth throwing at any field: wrong types, edge numbers, prototype names, hostile paths and text. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.constantFrom(
        "constructor",
        "toString",
        "__proto__",
        "hasOwnProperty",
        "",
        "latest",
        "//var/run/docker.sock",
        "/var/run/./docker.sock",
        "/run",
        "/etc/shadow",
        "/srv/x,source=/",
        "a\nb",
        "99 * * * *",
        "restic",
        "zstd",
        "backups",
        "pgdata",
        "persistent-test-uploads",
        "persistent-test-backup",
        "rest:https://u:p@h/",
        "local:/backup/r",
        1e15,
        -1,
        0,
        0.5,
        65536,
        Number.MAX_SAFE_INTEGER,
        NaN,
        Infinity,
        true,
        null,
        [],
        {},
    ),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.anything({ maxDepth: 2 }),
);

/** Every path into a config (objects and arrays), for mutations. */
function pathsOf(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
    if (value === null || typeof value !== "object") {
        return [prefix];
    }
    const children = Object.keys(value).flatMap((k) => pathsOf(value[k], [...prefix, Array.isArray(value) ? Number(k) : k]));
    return [prefix, ...children];
}

/** Set `value` at `path` (creating objects on the way); a new key when `extraKey` is given. */
function mutate(config: Json, path: Array<string | number>, value: unknown, extraKey?: string): void {
    const full = extraKey === undefined ? path : [...path, extraKey];
    if (full.length === 0) {
        return;
    }
    let node = config;
    for (const part of full.slice(0, -1)) {
        if (node[part] === null || typeof node[part] !== "object") {
            node[part] = {};
        }
        node = node[part];
    }
    Object.defineProperty(node, full[full.length - 1], { value, enumerable: true, writable: true, configurable: true });
}

const mutation = fc.record({
    pick: fc.nat(),
    value: hostileValue,
    extraKey: fc.option(fc.constantFrom("constructor", "toString", "name", "mode", "extra", "volumes", "volume", "restic", "env"), {
        nil: undefined,
    }),
});

/** A valid base config with backups, then 1 to 4 random mutations. */
const mutatedConfig = fc.array(mutation, { minLength: 1, maxLength: 4 }).map((mutations) => {
    const config = baseConfig();
    for (const m of mutations) {
        const paths = pathsOf(config);
        mutate(config, paths[m.pick % paths.length], m.value, m.extraKey);
    }
    return config;
});

/** The stack must either build or refuse with a ConfigError, registering nothing. */
function assertRefusesCleanly(result: { error: unknown; registered: number }): void {
    if (result.error === undefined) {
        assert.ok(result.registered > 0, "an accepted config registers the stack");
        return;
    }
    assert.ok(
        result.error instanceof ConfigError,
        `internal error instead of a ConfigError: ${result.error instanceof Error ? result.error.stack : String(result.error)}`,
    );
    assert.strictEqual(result.registered, 0, `registered resources although refused:\n${result.error.message}`);
}

const runs = { numRuns: 120 };

describe("properties: random and mutated configs never crash and never half-deploy", function () {
    // Each run builds a stack under mocks; a loaded CI machine needs the headroom.
    this.timeout(180_000);
    it("mutated component args build or are refused with a ConfigError, registering nothing", async () => {
        await fc.assert(
            fc.asyncProperty(mutatedConfig, async (config) => {
                assertRefusesCleanly(await attempt(() => new PersistentStack("app", config)));
            }),
            runs,
        );
    });

    it("mutated stack YAML builds or is refused with a ConfigError, registering nothing", async () => {
        await fc.assert(
            fc.asyncProperty(mutatedConfig, async (config) => {
                assertRefusesCleanly(await attempt(() => new PersistentStack("app", loadStackArgs(yamlSource(config)))));
            }),
            runs,
        );
    });

    it("random top-level stack config (known keys, typos, anything as values) never crashes", async () => {
        const topLevel = fc.dictionary(fc.constantFrom(...configKeys, "backups", "constructor", "toString", "volume"), hostileValue, {
            maxKeys: 5,
        });
        await fc.assert(
            fc.asyncProperty(topLevel, async (config) => {
                assertRefusesCleanly(await attempt(() => new PersistentStack("app", loadStackArgs(yamlSource(config)))));
            }),
            runs,
        );
    });

    it("cron validation never throws, and accepts every in-range single-number schedule", () => {
        fc.assert(fc.property(fc.string(), (s) => Array.isArray(cronProblems(s))));
        const schedule = fc.tuple(fc.nat(59), fc.nat(23), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 1, max: 12 }), fc.nat(6));
        fc.assert(fc.property(schedule, (fields) => cronProblems(fields.join(" ")).length === 0));
    });

    it("a dangerous path stays dangerous however it is spelled (extra slashes, dots, trailing slash)", () => {
        const spelling = fc.record({
            path: fc.constantFrom(
                "/var/run/docker.sock",
                "/run/docker.sock",
                "/etc/shadow",
                "/root/.ssh",
                "/proc/1",
                "/var/lib/docker/volumes",
            ),
            slashes: fc.array(fc.constantFrom("/", "//", "/./"), { minLength: 1, maxLength: 6 }),
            trailing: fc.boolean(),
        });
        fc.assert(
            fc.property(spelling, ({ path, slashes, trailing }) => {
                const parts = path.split("/").filter(Boolean);
                const spelled = parts.map((p, i) => `${slashes[i % slashes.length]}${p}`).join("") + (trailing ? "/" : "");
                assert.strictEqual(cleanPath(spelled), path);
                assert.ok(isDangerousHostPath(spelled), spelled);
            }),
        );
    });
});
