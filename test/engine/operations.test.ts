// Live databases and operations on a real Docker daemon: a real PostgreSQL
// (image built from Debian's packages), consistency hooks, disk usage, and the
// backup container's commands.
import * as assert from "node:assert/strict";
import type { PersistentStackArgs } from "../../components";
import { parseDiskUsage } from "../../components/backup/usage";
import { docker, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { EngineStack, engineSuite, idleContainer } from "../helpers/engine";

const POSTGRES_IMAGE = process.env.PDS_POSTGRES_IMAGE ?? "pds-test/postgres:latest";
const OPS_IMAGE = process.env.PDS_OPS_IMAGE ?? "pds-test/ops:latest";

/** A PostgreSQL container spec on volume pgdata (and optionally a dump volume). */
function postgres(extra: Record<string, unknown> = {}, dump = false) {
    return {
        image: POSTGRES_IMAGE,
        pull: false,
        restart: "no",
        env: { POSTGRES_USER: "app", POSTGRES_DB: "app", POSTGRES_PASSWORD: "pw" },
        mounts: [
            { type: "volume", volume: "pgdata", target: "/var/lib/postgresql/data" },
            ...(dump ? [{ type: "volume", volume: "pgdump", target: "/dump" }] : []),
        ],
        ...extra,
    };
}

async function waitReady(s: EngineStack, key = "db"): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
        const r = await s.exec(key, "pg_isready -U app -d app -h 127.0.0.1", { allowFail: true });
        if (r.code === 0) {
            return;
        }
        assert.ok(Date.now() < deadline, `PostgreSQL in ${s.name(key)} became ready: ${r.stdout}${r.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
}

const psql = async (s: EngineStack, sql: string, key = "db") =>
    (await s.exec(key, `psql -U app -d app -v ON_ERROR_STOP=1 -qAt -c "${sql.replace(/"/g, '\\"')}"`)).stdout.trim();

describe("live databases and operations on a real Docker engine", function () {
    const { newStack, tempDir } = engineSuite();

    before(async function () {
        await requireDocker(this);
        await requireDocker(this, { image: POSTGRES_IMAGE });
        await requireDocker(this, { image: OPS_IMAGE });
    });

    it("keeps a PostgreSQL data directory across container recreation", async () => {
        const s = newStack("pg-recreate");
        const args = (tz: string): PersistentStackArgs => ({
            protection: { retainOnDelete: false },
            volumes: { pgdata: {} },
            containers: { db: postgres({ env: { POSTGRES_USER: "app", POSTGRES_DB: "app", POSTGRES_PASSWORD: "pw", TZ: tz } }) },
        });
        await s.up(args("UTC"));
        await waitReady(s);
        await psql(
            s,
            "create table orders(id serial primary key, item text); insert into orders(item) select 'item ' || g from generate_series(1, 1000) g",
        );
        const result = await s.up(args("Europe/Paris"));
        assert.ok(result.replaced.some((r) => r.endsWith("::app-ctr-db")));
        await waitReady(s);
        assert.equal(await psql(s, "select count(*) || ':' || sum(id) from orders"), "1000:500500");
    });

    it("takes a pg_dump while rows are inserted, and a fresh stack restored from it has every row committed before the dump began", async () => {
        const shared = tempDir();
        const prod = newStack("pg-dump");
        const backup = { volumes: ["pgdump"], targetPath: shared, image: OPS_IMAGE, pull: false, onDeploy: false };
        await prod.up({
            protection: { retainOnDelete: false },
            volumes: { pgdata: {}, pgdump: {} },
            containers: { db: postgres({}, true) },
            backup: {
                ...backup,
                consistency: {
                    pgdump: {
                        preCommands: [
                            {
                                container: "db",
                                command: ["sh", "-c", "pg_dump -U app -d app -f /dump/app.sql.tmp && mv /dump/app.sql.tmp /dump/app.sql"],
                                timeoutSeconds: 120,
                            },
                        ],
                    },
                },
            },
        });
        await waitReady(prod);
        await psql(prod, "create table events(id bigserial primary key, at timestamptz default now())");
        // Insert one row per transaction, continuously, until told to stop.
        const inserting = prod.exec(
            "db",
            "while [ ! -e /tmp/stop ]; do psql -U app -d app -qAt -c 'insert into events default values' >/dev/null || exit 1; done",
        );
        while (Number(await psql(prod, "select count(*) from events")) < 50) {
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const committedBefore = Number(await psql(prod, "select max(id) from events"));
        const run = await docker(["exec", prod.name("backup"), "backup-now"]);
        assert.match(run.stderr, /pre hook in .*-db: sh \(arguments not logged\)/);
        await prod.exec("db", "touch /tmp/stop");
        await inserting;
        const insertedInTotal = Number(await psql(prod, "select max(id) from events"));
        assert.ok(insertedInTotal > committedBefore, "rows kept coming in during the backup");

        const staging = newStack("pg-restore");
        await staging.up({
            protection: { retainOnDelete: false },
            volumes: { pgdata: {}, pgdump: {} },
            containers: { db: postgres({}, true) },
            backup,
            restores: [{ volume: "pgdump", from: "latest", prefix: prod.name("").slice(0, -1) }],
        });
        await waitReady(staging);
        await staging.exec("db", "psql -U app -d app -v ON_ERROR_STOP=1 -q -f /dump/app.sql");
        const restored = await psql(staging, `select count(*) from events where id <= ${committedBefore}`);
        assert.equal(Number(restored), committedBefore, "every row committed before the dump began is there");
    });

    it("stops the containers that mount a volume during its backup and starts them again, also when the backup fails", async () => {
        const s = newStack("stop");
        await s.up({
            protection: { retainOnDelete: false },
            volumes: { data: {}, backups: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=2m" } } },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
            backup: { volumes: ["data"], targetVolume: "backups", image: OPS_IMAGE, pull: false, consistency: { data: { stop: true } } },
        });
        const startedAt = async () =>
            (await docker(["inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", s.name("app")])).stdout.trim();
        await s.exec("app", "echo ok > /data/file");
        const before = await startedAt();
        const run = await docker(["exec", s.name("backup"), "backup-now"]);
        assert.match(run.stderr, /stopping .*-app/);
        const after = await startedAt();
        assert.match(after, /^true /);
        assert.notEqual(after, before, "the container was stopped and started");

        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1M count=4 2>/dev/null");
        const failed = await docker(["exec", s.name("backup"), "backup-now"], { allowFail: true });
        assert.notEqual(failed.code, 0);
        assert.match(await startedAt(), /^true /, "running again after the failed backup");
    });

    it("reports disk usage as a stack output and fails the backup run loudly over a threshold", async () => {
        const s = newStack("usage");
        const result = await s.up({
            protection: { retainOnDelete: false },
            volumes: { data: {}, backups: {} },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
            backup: { volumes: ["data"], targetVolume: "backups", image: TEST_IMAGE, pull: false, diskUsage: { maxVolumeSize: "1m" } },
        });
        const probe = await s.resource("app-usage");
        const usage = parseDiskUsage(probe.outputs?.stdout);
        assert.ok(usage, `usage JSON in: ${probe.outputs?.stdout}`);
        assert.ok(
            usage.volumes.data.bytes < 64 * 1024 && usage.alerts === 0,
            `the new volume is empty and under its limit: ${probe.outputs?.stdout}`,
        );
        assert.ok(usage.target.availableBytes > 0);
        assert.ok(result.created.some((r) => r.endsWith("::app-usage")));

        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1M count=2 2>/dev/null");
        const run = await docker(["exec", s.name("backup"), "backup-now"], { allowFail: true });
        assert.equal(run.code, 5);
        assert.match(run.stderr, /ALERT volume data holds .* over the limit of 1\.0 MiB \(diskUsage\.maxVolumeSize\)/);
        const usageNow = await docker(["exec", s.name("backup"), "usage"], { allowFail: true });
        assert.equal(usageNow.code, 5);
        assert.match(usageNow.stdout, /^volume data: /m);
    });

    it("lists, verifies and restores from inside the backup container, with the same safety rules", async () => {
        const s = newStack("ops");
        await s.up({
            protection: { retainOnDelete: false },
            volumes: { data: {}, backups: {} },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
            backup: { volumes: ["data"], targetVolume: "backups", image: OPS_IMAGE, pull: false, restoreCommand: true },
        });
        const ops = (...args: string[]) => docker(["exec", s.name("backup"), ...args], { allowFail: true });
        await s.exec("app", "echo v1 > /data/file");
        assert.equal((await ops("backup-now")).code, 0);
        const list = await ops("list");
        assert.match(list.stdout, /-data-\d{8}T\d{6}Z\.tar\.gz\t\d+\t\d+s\tverified/);
        assert.equal((await ops("verify")).code, 0);

        await s.exec("app", "echo v2 > /data/file");
        const inUse = await ops("restore", "latest", "data");
        assert.equal(inUse.code, 4, inUse.stderr);
        assert.match(inUse.stderr, /in use by running container\(s\): .*-app; stop them first/);

        await docker(["stop", "-t", "1", s.name("app")]);
        const notEmpty = await ops("restore", "latest", "data");
        assert.equal(notEmpty.code, 4);
        assert.match(notEmpty.stderr, /not empty; refusing to overwrite existing data/);
        const forced = await ops("restore", "latest", "data", "--force");
        assert.equal(forced.code, 0, forced.stderr);
        await docker(["start", s.name("app")]);
        assert.equal((await s.exec("app", "cat /data/file")).stdout, "v1\n");
    });
});
