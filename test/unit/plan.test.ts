import * as assert from "assert";
import { labelList } from "../../components/naming";
import { isDangerousHostPath, parseSize, planStack, replacementProblem, validateStackArgs, volumeFingerprint } from "../../components";

const ctx = { project: "shop", stack: "prod", component: "shop" };

describe("naming", () => {
    it("names Docker objects <project>-<stack>-<key> by default", () => {
        const plan = planStack(validateStackArgs({ volumes: { pgdata: {} }, containers: { db: { image: "postgres:16" } } }), ctx);
        assert.strictEqual(plan.volumes[0].dockerName, "shop-prod-pgdata");
        assert.strictEqual(plan.containers[0].dockerName, "shop-prod-db");
        assert.strictEqual(plan.network.dockerName, "shop-prod-net");
    });

    it("honours namePrefix and explicit names", () => {
        const plan = planStack(
            validateStackArgs({ namePrefix: "legacy", volumes: { pgdata: { name: "pg-main" }, logs: {} }, network: { name: "backend" } }),
            ctx,
        );
        assert.deepStrictEqual(
            plan.volumes.map((v) => v.dockerName),
            ["pg-main", "legacy-logs"],
        );
        assert.strictEqual(plan.network.dockerName, "backend");
    });

    it("labels objects with project, stack, component, kind and key, over user labels", () => {
        const plan = planStack(validateStackArgs({ labels: { team: "data" }, volumes: { pgdata: { labels: { tier: "db" } } } }), ctx);
        assert.deepStrictEqual(plan.volumes[0].labels, {
            team: "data",
            tier: "db",
            "pds.project": "shop",
            "pds.stack": "prod",
            "pds.component": "shop",
            "pds.kind": "volume",
            "pds.key": "pgdata",
        });
    });
});

describe("container and network plans", () => {
    it("fills in the defaults: pulled image, unless-stopped, empty env and ports, the key as alias, a bridge network", () => {
        const plan = planStack(validateStackArgs({ containers: { web: { image: "nginx:1.27" } } }), ctx);
        assert.deepStrictEqual(plan.containers[0], {
            key: "web",
            dockerName: "shop-prod-web",
            image: "nginx:1.27",
            pull: true,
            command: undefined,
            entrypoint: undefined,
            env: {},
            workingDir: undefined,
            user: undefined,
            ports: [],
            restart: "unless-stopped",
            healthcheck: undefined,
            labels: { "pds.project": "shop", "pds.stack": "prod", "pds.component": "shop", "pds.kind": "container", "pds.key": "web" },
            mounts: [],
            aliases: ["web"],
            memoryMb: undefined,
        });
        assert.deepStrictEqual(plan.network, {
            dockerName: "shop-prod-net",
            internal: false,
            driver: "bridge",
            labels: { "pds.project": "shop", "pds.stack": "prod", "pds.component": "shop", "pds.kind": "network", "pds.key": "net" },
        });
        assert.strictEqual(plan.namePrefix, "shop-prod");
    });

    it("passes every container setting through, and the network's", () => {
        const spec = {
            image: "app:2",
            pull: false,
            command: ["serve"],
            entrypoint: ["/init"],
            env: { A: "1" },
            workingDir: "/app",
            user: "1000:1000",
            ports: [{ internal: 80, external: 8080 }],
            restart: "always",
            healthcheck: { test: ["CMD", "true"] },
            networkAliases: ["api"],
            memoryMb: 256,
        };
        const plan = planStack(
            validateStackArgs({ containers: { app: spec }, network: { name: "backend", internal: true, driver: "overlay" } }),
            ctx,
        );
        const app = plan.containers[0];
        assert.deepStrictEqual(
            [app.image, app.pull, app.command, app.entrypoint, app.env, app.workingDir, app.user, app.restart, app.memoryMb],
            ["app:2", false, ["serve"], ["/init"], { A: "1" }, "/app", "1000:1000", "always", 256],
        );
        assert.deepStrictEqual(
            app.ports.map((p) => [p.internal, p.external]),
            [[80, 8080]],
        );
        assert.deepStrictEqual(app.healthcheck?.test, ["CMD", "true"]);
        assert.deepStrictEqual(app.aliases, ["app", "api"]);
        assert.deepStrictEqual([plan.network.dockerName, plan.network.internal, plan.network.driver], ["backend", true, "overlay"]);
    });
});

describe("label lists", () => {
    it("turns a label map into the provider's [{label, value}] list, sorted by label", () => {
        assert.deepStrictEqual(labelList({ "pds.stack": "prod", app: "shop", "pds.key": "db" }), [
            { label: "app", value: "shop" },
            { label: "pds.key", value: "db" },
            { label: "pds.stack", value: "prod" },
        ]);
    });
});

describe("data protection defaults", () => {
    it("retains volumes by default, without protect", () => {
        const plan = planStack(validateStackArgs({ volumes: { a: {} } }), ctx);
        assert.deepStrictEqual([plan.volumes[0].retainOnDelete, plan.volumes[0].protect], [true, false]);
    });

    it("lets the stack opt out and a volume override the stack", () => {
        const plan = planStack(
            validateStackArgs({ protection: { retainOnDelete: false }, volumes: { a: {}, b: { retainOnDelete: true, protect: true } } }),
            ctx,
        );
        assert.deepStrictEqual(
            plan.volumes.map((v) => [v.key, v.retainOnDelete, v.protect]),
            [
                ["a", false, false],
                ["b", true, true],
            ],
        );
    });
});

describe("mount planning", () => {
    it("maps volume, bind and tmpfs mounts to the provider's shape", () => {
        const plan = planStack(
            validateStackArgs({
                volumes: { data: {} },
                containers: {
                    app: {
                        image: "app:1",
                        mounts: [
                            { type: "volume", volume: "data", target: "/data", readOnly: true, noCopy: true, subpath: "app" },
                            { type: "bind", source: "/srv/conf", target: "/conf", propagation: "rslave" },
                            { type: "tmpfs", target: "/cache", size: "1g", mode: "700" },
                        ],
                    },
                },
            }),
            ctx,
        );
        assert.deepStrictEqual(plan.containers[0].mounts, [
            {
                type: "volume",
                target: "/data",
                source: "shop-prod-data",
                volumeKey: "data",
                readOnly: true,
                volumeOptions: { noCopy: true, subpath: "app" },
            },
            {
                type: "bind",
                target: "/conf",
                source: "/srv/conf",
                readOnly: false,
                createHostPath: false,
                bindOptions: { propagation: "rslave" },
            },
            { type: "tmpfs", target: "/cache", tmpfsOptions: { sizeBytes: 1024 ** 3, mode: 0o700 } },
        ]);
    });

    it("defaults to read-write mounts, bind mounts that create their host path, and tmpfs mode 1777 without a size", () => {
        const plan = planStack(
            validateStackArgs({
                volumes: { data: {} },
                containers: {
                    app: {
                        image: "app:1",
                        mounts: [
                            { type: "volume", volume: "data", target: "/data" },
                            { type: "volume", volume: "data", target: "/sub", subpath: "app" },
                            { type: "bind", source: "/srv/conf", target: "/conf" },
                            { type: "tmpfs", target: "/cache" },
                        ],
                    },
                },
            }),
            ctx,
        );
        assert.deepStrictEqual(plan.containers[0].mounts, [
            { type: "volume", target: "/data", source: "shop-prod-data", volumeKey: "data", readOnly: false },
            {
                type: "volume",
                target: "/sub",
                source: "shop-prod-data",
                volumeKey: "data",
                readOnly: false,
                volumeOptions: { noCopy: undefined, subpath: "app" },
            },
            { type: "bind", target: "/conf", source: "/srv/conf", readOnly: false, createHostPath: true },
            { type: "tmpfs", target: "/cache", tmpfsOptions: { mode: 0o1777 } },
        ]);
    });

    it("mounts an external volume by its existing name", () => {
        const plan = planStack(
            validateStackArgs({
                volumes: { old: { external: true, name: "legacy-data" } },
                containers: { app: { image: "a:1", mounts: [{ type: "volume", volume: "old", target: "/d" }] } },
            }),
            ctx,
        );
        assert.strictEqual(plan.containers[0].mounts[0].source, "legacy-data");
        assert.strictEqual(plan.volumes[0].external, true);
    });
});

describe("sizes", () => {
    for (const [input, bytes] of [
        ["512", 512],
        ["64k", 65536],
        ["64m", 64 * 1024 ** 2],
        ["2G", 2 * 1024 ** 3],
    ] as const) {
        it(`parses ${input}`, () => assert.strictEqual(parseSize(input), bytes));
    }
    it("ignores surrounding blanks and the case of the unit", () => {
        assert.strictEqual(parseSize(" 64K "), 65536);
        assert.strictEqual(parseSize("3m"), parseSize("3M"));
    });
    for (const garbage of ["-1m", "0", "064k", "64kb", "1.5g", "k", "64 k", ""]) {
        it(`refuses ${JSON.stringify(garbage)}`, () =>
            assert.throws(() => parseSize(garbage), { message: `invalid size "${garbage}": use bytes, or a number with k, m or g` }));
    }
});

describe("dangerous host paths", () => {
    for (const p of [
        "/",
        "/etc",
        "/etc/",
        "/proc",
        "/proc/self",
        "/sys/fs",
        "/dev/sda",
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/var/lib/docker",
        "/var/lib/docker/volumes/x",
    ]) {
        it(`flags ${p}`, () => assert.ok(isDangerousHostPath(p)));
    }
    for (const p of ["/srv/data", "/home/me/project", "/etc/nginx/conf.d", "/var/lib/dockerish", "/tmp/x"]) {
        it(`allows ${p}`, () => assert.ok(!isDangerousHostPath(p)));
    }
    it("knows a custom Docker data root", () => assert.ok(isDangerousHostPath("/srv/docker/volumes", "/srv/docker")));
});

describe("the volume replacement guard", () => {
    const state = (volumeName: string, fields: Parameters<typeof volumeFingerprint>[0]) => ({
        volumeName,
        configPath: "volumes.pgdata",
        fingerprint: volumeFingerprint(fields),
    });

    it("fingerprints independently of key order and with local as the default driver", () => {
        assert.strictEqual(
            volumeFingerprint({ driverOpts: { a: "1", b: "2" } }),
            volumeFingerprint({ driver: "local", driverOpts: { b: "2", a: "1" } }),
        );
    });

    it("fails a change that would replace a retained volume, naming it and the migration path", () => {
        const problem = replacementProblem(state("shop-prod-pgdata", {}), state("shop-prod-pgdata", { driverOpts: { type: "tmpfs" } }));
        assert.match(
            problem ?? "",
            /^volumes\.pgdata: changing the driver, driverOpts or labels of volume "shop-prod-pgdata" would replace it/,
        );
        assert.match(problem ?? "", /Changing a volume's driver or options/);
    });

    it("allows unchanged volumes and a move to a new name (a new volume; the old one keeps its data)", () => {
        assert.strictEqual(replacementProblem(state("v", {}), state("v", {})), undefined);
        assert.strictEqual(replacementProblem(state("v", {}), state("v2", { driver: "other" })), undefined);
    });
});
