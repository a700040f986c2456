import * as assert from "assert";
import { ofType, recordStack, types } from "../helpers/stacks";

const labelsOf = (r: { inputs: Record<string, any> }) => Object.fromEntries((r.inputs.labels ?? []).map((l: any) => [l.label, l.value]));

describe("the dev stack config", () => {
    let rec: Awaited<ReturnType<typeof recordStack>>;
    before(async () => {
        rec = await recordStack("dev");
    });

    it("creates one component with a network, the uploads volume, three app containers and the backup container", () => {
        assert.deepStrictEqual(
            ofType(rec, types.stack).map((r) => r.name),
            ["persistent-docker"],
        );
        assert.deepStrictEqual(
            ofType(rec, types.volume).map((r) => r.inputs.name),
            ["persistent-docker-dev-uploads"],
        );
        assert.deepStrictEqual(
            ofType(rec, types.network).map((r) => r.inputs.name),
            ["persistent-docker-dev-net"],
        );
        assert.deepStrictEqual(
            ofType(rec, types.container)
                .map((r) => r.inputs.name)
                .sort(),
            ["persistent-docker-dev-backup", "persistent-docker-dev-db", "persistent-docker-dev-thumbnailer", "persistent-docker-dev-web"],
        );
    });

    it("binds the configured host directories for the database and the logs, creating them when missing", () => {
        const db = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-db"))!;
        assert.deepStrictEqual(db.inputs.mounts, []);
        assert.deepStrictEqual(db.inputs.volumes, [
            { hostPath: "/var/tmp/persistent-docker-dev/pgdata", containerPath: "/var/lib/postgresql/data", readOnly: false },
        ]);
        const web = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-web"))!;
        assert.deepStrictEqual(
            web.inputs.mounts.map((m: any) => [m.type, m.source, m.target]),
            [
                ["volume", "persistent-docker-dev-uploads", "/usr/share/nginx/html/uploads"],
                ["tmpfs", undefined, "/var/cache/nginx"],
            ],
        );
        assert.deepStrictEqual(web.inputs.volumes, [
            { hostPath: "/var/tmp/persistent-docker-dev/logs", containerPath: "/var/log/nginx", readOnly: false },
        ]);
        assert.deepStrictEqual(web.inputs.mounts[1].tmpfsOptions, { sizeBytes: 64 * 1024 * 1024, mode: 0o1777 });
    });

    it("shares uploads read-only with the thumbnailer", () => {
        const thumb = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-thumbnailer"))!;
        assert.deepStrictEqual(thumb.inputs.mounts, [
            { type: "volume", source: "persistent-docker-dev-uploads", target: "/uploads", readOnly: true },
        ]);
    });

    it("lets the data go on destroy (retainOnDelete off) and adds no replacement guard", () => {
        const volume = ofType(rec, types.volume)[0];
        assert.strictEqual(volume.options.retainOnDelete, false);
        assert.strictEqual(volume.options.protect, false);
        assert.strictEqual(rec.resources.filter((r) => r.type.includes("VolumeGuard")).length, 0);
    });

    it("exports names and ids", () => {
        assert.deepStrictEqual(rec.outputs.volumeNames, { uploads: "persistent-docker-dev-uploads" });
        assert.strictEqual(rec.outputs.networkName, "persistent-docker-dev-net");
        assert.deepStrictEqual(Object.keys(rec.outputs.containerIds).sort(), ["db", "thumbnailer", "web"]);
    });
});

describe("the prod stack config", () => {
    let rec: Awaited<ReturnType<typeof recordStack>>;
    before(async () => {
        rec = await recordStack("prod", { "persistent-docker:dbPassword": "s3cret-prod" }, ["persistent-docker:dbPassword"]);
    });

    it("declares pgdata, pgdump, uploads, logs and backups as named volumes, retained and protected", () => {
        const volumes = ofType(rec, types.volume);
        assert.deepStrictEqual(
            volumes.map((v) => v.inputs.name),
            [
                "persistent-docker-prod-pgdata",
                "persistent-docker-prod-pgdump",
                "persistent-docker-prod-uploads",
                "persistent-docker-prod-logs",
                "persistent-docker-prod-backups",
            ],
        );
        for (const v of volumes) {
            assert.strictEqual(v.options.retainOnDelete, true, v.name);
            assert.strictEqual(v.options.protect, true, v.name);
        }
    });

    it("puts the stack's replacement guard, covering every protected volume, in front of each", () => {
        const guards = rec.resources.filter((r) => r.type.endsWith("VolumeGuard"));
        assert.strictEqual(guards.length, 1);
        const [guard] = guards;
        const volumes = ofType(rec, types.volume);
        assert.strictEqual(volumes.length, 5);
        assert.deepStrictEqual(Object.keys(guard.inputs.volumes).sort(), volumes.map((v) => v.name.split("-vol-")[1]).sort());
        for (const v of volumes) {
            const key = v.name.split("-vol-")[1];
            assert.strictEqual(guard.inputs.volumes[key].volumeName, v.inputs.name);
            assert.ok(v.options.dependsOn.includes(guard.urn), `${v.name} depends on the guard`);
        }
    });

    it("mounts the database data directory on the pgdata volume", () => {
        const db = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-db"))!;
        assert.deepStrictEqual(db.inputs.mounts[0], {
            type: "volume",
            source: "persistent-docker-prod-pgdata",
            target: "/var/lib/postgresql/data",
            readOnly: false,
        });
        assert.strictEqual(db.inputs.restart, "always");
        assert.strictEqual(db.inputs.memory, 1024);
        assert.deepStrictEqual(db.inputs.healthcheck.tests, ["CMD-SHELL", "pg_isready -U app"]);
    });

    it("keeps the database password secret", () => {
        const db = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-db"))!;
        assert.ok(db.secretInputs.includes("envs"), "envs is a secret input");
        assert.ok(db.inputs.envs.includes("POSTGRES_PASSWORD=s3cret-prod"));
        const web = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-web"))!;
        assert.ok(!web.secretInputs.includes("envs"));
    });

    it("joins every container to the stack network with its key as alias", () => {
        for (const c of ofType(rec, types.container).filter((r) => !r.name.endsWith("-backup"))) {
            assert.deepStrictEqual(c.inputs.networksAdvanced, [
                { name: "persistent-docker-prod-net", aliases: [c.name.split("-ctr-")[1]] },
            ]);
        }
    });

    it("labels every volume, container and network with project, stack and component", () => {
        for (const r of [...ofType(rec, types.volume), ...ofType(rec, types.container), ...ofType(rec, types.network)]) {
            const labels = labelsOf(r);
            assert.strictEqual(labels["pds.project"], "persistent-docker", r.name);
            assert.strictEqual(labels["pds.stack"], "prod", r.name);
            assert.strictEqual(labels["pds.component"], "persistent-docker", r.name);
            assert.strictEqual(labels.environment, "production", r.name);
        }
    });

    it("pulls each image through a RemoteImage the container uses", () => {
        const images = ofType(rec, types.image);
        assert.deepStrictEqual(images.map((i) => i.inputs.name).sort(), ["busybox:1.37", "docker:27-cli", "nginx:1.27", "postgres:16"]);
        const db = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-db"))!;
        assert.strictEqual(db.inputs.image, "sha256:mock-postgres:16");
    });

    it("starts containers only after the volumes they mount, and replaces them delete-first", () => {
        const db = ofType(rec, types.container).find((r) => r.inputs.name.endsWith("-db"))!;
        const pgdata = ofType(rec, types.volume).find((v) => v.inputs.name.endsWith("-pgdata"))!;
        assert.ok(db.options.dependsOn.includes(pgdata.urn));
        assert.strictEqual(db.options.deleteBeforeReplace, true);
    });

    it("parents every resource under the component", () => {
        const component = ofType(rec, types.stack)[0];
        for (const r of rec.resources.filter((x) => x !== component)) {
            assert.strictEqual(r.options.parent, component.urn, r.name);
        }
    });
});
