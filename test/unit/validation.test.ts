import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, PersistentStack, PersistentStackArgs, validateStackArgs } from "../../components";
import { loadStackArgs } from "../../components/config/stackConfig";
import { isSecret, promiseOf, recordProgram } from "../helpers/pulumiMocks";

const base = (): any => ({
    volumes: { pgdata: {}, uploads: {} },
    containers: {
        web: {
            image: "nginx:1.27",
            mounts: [
                { type: "volume", volume: "pgdata", target: "/data" },
                { type: "volume", volume: "uploads", target: "/uploads" },
            ],
        },
    },
});

/** [description, mutation of a valid config, expected message fragment] */
const invalid: Array<[string, (c: any) => void, string]> = [
    [
        "unknown volume reference",
        (c) => (c.containers.web.mounts[1].volume = "uplods"),
        'containers.web.mounts[1].volume: unknown volume "uplods"; declared: pgdata, uploads',
    ],
    [
        "relative bind path",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "data/web", target: "/srv" }),
        'containers.web.mounts[2].source: source must be an absolute path (start with "/")',
    ],
    [
        "empty bind path",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "", target: "/srv" }),
        "containers.web.mounts[2].source: source must not be empty",
    ],
    [
        "missing bind path",
        (c) => c.containers.web.mounts.push({ type: "bind", target: "/srv" }),
        "containers.web.mounts[2].source: source is required",
    ],
    [
        "bind path with ..",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/srv/../etc", target: "/srv" }),
        'containers.web.mounts[2].source: source must not contain ".."',
    ],
    [
        "bind of /",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/", target: "/host" }),
        'containers.web.mounts[2].source: binding "/" hands the container the host',
    ],
    [
        "bind of /etc",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/etc/", target: "/host" }),
        'binding "/etc/" hands the container',
    ],
    ["bind of /proc", (c) => c.containers.web.mounts.push({ type: "bind", source: "/proc/1", target: "/host" }), 'binding "/proc/1"'],
    ["bind of /sys", (c) => c.containers.web.mounts.push({ type: "bind", source: "/sys", target: "/host" }), 'binding "/sys"'],
    [
        "bind of the Docker socket",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }),
        "set allowDangerous: true if you mean it",
    ],
    [
        "bind of the Docker data root",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/var/lib/docker/volumes", target: "/v" }),
        'binding "/var/lib/docker/volumes"',
    ],
    [
        "bind of a custom Docker data root",
        (c) => ((c.dockerDataRoot = "/srv/docker"), c.containers.web.mounts.push({ type: "bind", source: "/srv/docker", target: "/v" })),
        'binding "/srv/docker"',
    ],
    [
        "two mounts on one target",
        (c) => (c.containers.web.mounts[1].target = "/data/"),
        'containers.web.mounts[1].target: two mounts on "/data" (mounts[0] and mounts[1])',
    ],
    [
        "relative mount target",
        (c) => (c.containers.web.mounts[0].target = "data"),
        "containers.web.mounts[0].target: target must be an absolute path",
    ],
    [
        "unknown mount type",
        (c) => (c.containers.web.mounts[0].type = "volum"),
        'containers.web.mounts[0].type: type must be "volume", "bind" or "tmpfs"',
    ],
    [
        "volume mount without volume",
        (c) => delete c.containers.web.mounts[0].volume,
        "containers.web.mounts[0].volume: a volume mount needs volume",
    ],
    [
        "createHostPath with propagation",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/srv/x", target: "/x", propagation: "rslave", createHostPath: true }),
        "containers.web.mounts[2].createHostPath: Docker cannot create the host directory of a mount with propagation",
    ],
    [
        "tmpfs with a source",
        (c) => c.containers.web.mounts.push({ type: "tmpfs", source: "/tmp/x", target: "/cache" }),
        "containers.web.mounts[2].source: source does not apply to a tmpfs mount; remove it",
    ],
    [
        "tmpfs with a volume",
        (c) => c.containers.web.mounts.push({ type: "tmpfs", volume: "pgdata", target: "/cache" }),
        "containers.web.mounts[2].volume: volume does not apply to a tmpfs mount",
    ],
    [
        "negative tmpfs size",
        (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", size: -5 }),
        "containers.web.mounts[2].size: size must be a positive number of bytes",
    ],
    [
        "garbage tmpfs size",
        (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", size: "lots" }),
        "containers.web.mounts[2].size: size must be a positive number",
    ],
    [
        "non-octal tmpfs mode",
        (c) => c.containers.web.mounts.push({ type: "tmpfs", target: "/cache", mode: "999" }),
        "containers.web.mounts[2].mode: mode must be octal digits",
    ],
    [
        "subpath escaping the volume",
        (c) => (c.containers.web.mounts[0].subpath = "../x"),
        "containers.web.mounts[0].subpath: subpath must be relative to the volume root",
    ],
    [
        "propagation on a volume mount",
        (c) => (c.containers.web.mounts[0].propagation = "rshared"),
        "containers.web.mounts[0].propagation: propagation does not apply to a volume mount",
    ],
    [
        "bad propagation",
        (c) => c.containers.web.mounts.push({ type: "bind", source: "/srv/x", target: "/x", propagation: "everywhere" }),
        "containers.web.mounts[2].propagation: propagation must be one of",
    ],
    ["invalid volume name", (c) => (c.volumes.pgdata.name = "pg data!"), "volumes.pgdata.name: invalid volume name"],
    ["one-character volume name", (c) => (c.volumes.pgdata.name = "p"), "volumes.pgdata.name: invalid volume name"],
    ["invalid container name", (c) => (c.containers.web.name = "-web"), "containers.web.name: invalid container name"],
    ["invalid name prefix", (c) => (c.namePrefix = "my stack"), "namePrefix: invalid prefix name"],
    ["invalid volume key", (c) => (c.volumes["pg data"] = {}), "volumes.pg data: invalid volume key"],
    [
        "external volume with driver options",
        (c) => (c.volumes.pgdata = { external: true, name: "legacy-pg", driverOpts: { type: "tmpfs" } }),
        "volumes.pgdata.driverOpts: an external volume is adopted as it is: remove driverOpts",
    ],
    [
        "external volume with a driver",
        (c) => (c.volumes.pgdata = { external: true, name: "legacy-pg", driver: "local" }),
        "volumes.pgdata.driver: an external volume is adopted as it is",
    ],
    [
        "external volume without a name",
        (c) => (c.volumes.pgdata = { external: true }),
        "volumes.pgdata.name: an external volume needs the name of the existing volume",
    ],
    ["unknown top-level key (typo)", (c) => (c.volume = {}), 'volume: unknown field (did you mean "volumes"?)'],
    [
        "unknown container key (typo)",
        (c) => (c.containers.web.mountz = []),
        'containers.web.mountz: unknown field (did you mean "mounts"?)',
    ],
    [
        "unknown mount key (typo)",
        (c) => (c.containers.web.mounts[0].readonly = true),
        'containers.web.mounts[0].readonly: unknown field (did you mean "readOnly"?)',
    ],
    ["unknown volume key (typo)", (c) => (c.volumes.pgdata.retain = true), "volumes.pgdata.retain: unknown field (typo?)"],
    ["empty image", (c) => (c.containers.web.image = ""), "containers.web.image: image must not be empty"],
    ["missing image", (c) => delete c.containers.web.image, "containers.web.image:"],
    [
        "bad restart policy",
        (c) => (c.containers.web.restart = "sometimes"),
        "containers.web.restart: restart must be no, always, unless-stopped or on-failure",
    ],
    ["port out of range", (c) => (c.containers.web.ports = [{ internal: 70000 }]), "containers.web.ports[0].internal:"],
    [
        "same host port twice",
        (c) => (c.containers.web.ports = [{ internal: 80 }, { internal: 81, external: 80 }]),
        "containers.web.ports[1].external: host port *:80/tcp is already published by containers.web.ports[0]",
    ],
    [
        "bad env name",
        (c) => (c.containers.web.env = { "MY-VAR": "x" }),
        "containers.web.env.MY-VAR: environment variable names use [A-Za-z0-9_]",
    ],
    [
        "bad healthcheck interval",
        (c) => (c.containers.web.healthcheck = { test: ["CMD", "true"], interval: "often" }),
        'containers.web.healthcheck.interval: interval must be a duration like "10s"',
    ],
    ["reserved label", (c) => (c.labels = { "pds.stack": "other" }), 'labels.pds.stack: label keys starting with "pds." are reserved'],
    ["negative memory", (c) => (c.containers.web.memoryMb = -1), "containers.web.memoryMb: must be an integer between 6 and 1048576"],
];

describe("config validation", () => {
    it("accepts the valid base config", () => {
        assert.doesNotThrow(() => validateStackArgs(base()));
    });

    for (const [what, mutate, expected] of invalid) {
        it(`rejects ${what}`, () => {
            const config = base();
            mutate(config);
            assert.throws(
                () => validateStackArgs(config),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, "a ConfigError");
                    assert.ok(err.message.includes(expected), `expected "${expected}" in:\n${err.message}`);
                    return true;
                },
            );
        });
    }

    it("allows a dangerous bind when the mount says so explicitly", () => {
        const config = base();
        config.containers.web.mounts.push({
            type: "bind",
            source: "/var/run/docker.sock",
            target: "/var/run/docker.sock",
            readOnly: true,
            allowDangerous: true,
        });
        assert.doesNotThrow(() => validateStackArgs(config));
    });

    it("lists every problem at once, one per line", () => {
        const config = base();
        config.containers.web.mounts[1].readonly = true;
        config.containers.web.restart = "sometimes";
        const err = (() => {
            try {
                validateStackArgs(config);
            } catch (e) {
                return e as ConfigError;
            }
            throw new Error("no error");
        })();
        assert.strictEqual(err.problems.length, 2, err.message);
        assert.deepStrictEqual(err.problems.map((p) => p.slice(0, p.indexOf(": "))).sort(), [
            "containers.web.mounts[1].readonly",
            "containers.web.restart",
        ]);
        assert.strictEqual(err.message, `PersistentStack: invalid configuration:\n  ${err.problems[0]}\n  ${err.problems[1]}`);
    });

    it("registers no resource when the args are invalid", async () => {
        const config = base();
        config.containers.web.mounts[1].volume = "uplods";
        let error: unknown;
        const rec = await recordProgram(() => {
            try {
                new PersistentStack("bad", config as PersistentStackArgs);
            } catch (e) {
                error = e;
            }
        });
        assert.ok(error instanceof ConfigError);
        assert.deepStrictEqual(rec.resources, []);
    });

    describe("stack config loading", () => {
        const source = (values: Record<string, unknown>) => ({
            getObject: <T>(k: string) => values[k] as T | undefined,
            get: (k: string) => values[k] as string | undefined,
            requireSecret: (k: string) => pulumi.secret(String(values[k])),
        });

        it("turns secretEnv references into secret env values beside the plain env", async () => {
            const args = loadStackArgs(
                source({
                    containers: { db: { image: "postgres:16", env: { PGUSER: "app" }, secretEnv: { PGPASSWORD: "dbPassword" } } },
                    dbPassword: "pw",
                }),
            );
            const env = args.containers!.db.env!;
            assert.deepStrictEqual(Object.keys(env).sort(), ["PGPASSWORD", "PGUSER"]);
            assert.strictEqual(env.PGUSER, "app");
            const value = env.PGPASSWORD as pulumi.Output<string>;
            assert.ok(pulumi.Output.isInstance(value));
            assert.strictEqual(await promiseOf(value), "pw");
            assert.ok(await isSecret(value), "stays secret");
            assert.ok(!("secretEnv" in args.containers!.db), "secretEnv is consumed");
        });

        it("reads namePrefix, dockerDataRoot and dockerHost as strings and every other key as an object", () => {
            const strings: Record<string, string> = { namePrefix: "shop", dockerDataRoot: "/srv/docker", dockerHost: "ssh://deploy@host" };
            const objects: Record<string, unknown> = {
                volumes: { data: {}, backups: {} },
                containers: { app: { image: "busybox:1.37", mounts: [{ type: "volume", volume: "data", target: "/data" }] } },
                network: { internal: true },
                protection: { protect: true },
                labels: { team: "ops" },
                backup: { volumes: ["data"], targetVolume: "backups" },
                restores: [{ volume: "data", from: "latest" }],
            };
            const args = loadStackArgs({
                get: (k: string) => strings[k],
                getObject: <T>(k: string) => objects[k] as T | undefined,
                requireSecret: (k: string) => pulumi.secret(k),
            });
            assert.deepStrictEqual([args.namePrefix, args.dockerDataRoot, args.dockerHost], ["shop", "/srv/docker", "ssh://deploy@host"]);
            assert.deepStrictEqual(Object.keys(args).sort(), [...Object.keys(strings), ...Object.keys(objects)].sort());
            assert.deepStrictEqual(args.labels, { team: "ops" });
            assert.deepStrictEqual(args.restores, [{ volume: "data", from: "latest" }]);
            assert.strictEqual(args.containers!.app.env, undefined, "no env is made up for a container without secretEnv");
        });

        it("refuses a secret reference that names no config key, or a variable also set in env, listing every problem", () => {
            assert.throws(
                () =>
                    loadStackArgs(
                        source({
                            containers: {
                                db: { image: "postgres:16", env: { PGUSER: "app" }, secretEnv: { EMPTY: "", NUMBER: 5, PGUSER: "dbUser" } },
                            },
                            backup: {
                                volumes: [],
                                targetPath: "/srv/b",
                                engine: "restic",
                                restic: { passwordSecret: "", sshKeySecret: 5 },
                            },
                            dbUser: "u",
                        }),
                    ),
                (e: Error) => {
                    assert.ok(e instanceof ConfigError);
                    assert.deepStrictEqual(e.problems, [
                        "containers.db.secretEnv.EMPTY: must name a config key holding a secret",
                        "containers.db.secretEnv.NUMBER: must name a config key holding a secret",
                        "containers.db.secretEnv.PGUSER: PGUSER is also set in env; set it in one place",
                        "backup.restic.passwordSecret: must name a config key holding a secret",
                        "backup.restic.sshKeySecret: must name a config key holding a secret",
                    ]);
                    assert.match(e.message, /^stack config: invalid configuration:\n/);
                    return true;
                },
            );
        });

        it("names a secretEnv key that is not set, and how to set it", () => {
            assert.throws(
                () => loadStackArgs(source({ containers: { db: { image: "postgres:16", secretEnv: { PGPASSWORD: "dbPassword" } } } })),
                /containers\.db\.secretEnv\.PGPASSWORD: config key "dbPassword" is not set; run: pulumi config set --secret dbPassword <value>/,
            );
        });

        it("validates the config it reads with the same rules", () => {
            assert.throws(
                () => loadStackArgs(source({ volumes: { pgdata: { drivr: "local" } } })),
                /stack config: invalid configuration:\n {2}volumes\.pgdata\.drivr: unknown field/,
            );
        });
    });
});
