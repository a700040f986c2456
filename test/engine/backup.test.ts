// Backups, retention, verification and restore (tar engine) on a real Docker
// daemon, driven the way a user drives them: `pulumi up` (the real engine),
// `docker exec <stack>-backup backup-now`, and restores through config.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { docker, requireDocker, TEST_IMAGE, treeDigest } from "../helpers/docker";
import { backedUpStack as stackArgs, EngineStack, engineSuite, idleContainer } from "../helpers/engine";

const archivePattern = (prefix: string, volume: string, ext = "tar.gz") =>
    new RegExp(`^${prefix}-${volume}-\\d{8}T\\d{6}Z\\.${ext.replace(".", "\\.")}$`);

/** Files in a volume's root (or a host directory), sorted. */
async function filesIn(volumeOrDir: string): Promise<string[]> {
    if (volumeOrDir.startsWith("/")) {
        return fs.readdirSync(volumeOrDir).sort();
    }
    const out = await docker(["run", "--rm", "--network", "none", "-v", `${volumeOrDir}:/v:ro`, TEST_IMAGE, "ls", "-A", "/v"]);
    return out.stdout.split("\n").filter(Boolean).sort();
}

const archivesIn = async (where: string) => (await filesIn(where)).filter((f) => /\.tar(\.gz|\.zst)?$/.test(f));

describe("backups on a real Docker engine (tar engine)", function () {
    const { newStack, tempDir } = engineSuite();
    const backupNow = (s: EngineStack, env: Record<string, string> = {}, allowFail = false) =>
        docker(["exec", ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]), s.name("backup"), "backup-now"], { allowFail });

    before(async function () {
        await requireDocker(this);
    });

    it("round-trips a tree through backup-now and a restore into another stack (clone prod into staging)", async () => {
        const shared = tempDir();
        for (const compression of ["gzip", "zstd", "none"]) {
            const prod = newStack(`prod-${compression}`);
            await prod.up(stackArgs({ targetPath: shared, targetVolume: undefined, compression }));
            await prod.exec(
                "app",
                [
                    "set -e; cd /data",
                    "mkdir -p 'empty dir' a/b && printf 'hello\\n' > a/b/file && ln -s a/b/file link && ln a/b/file hard",
                    "printf x > \"$(printf 'new\\nline')\" && printf y > 'ünïcödé name' && chown 1000:1000 a/b/file && chmod 640 a/b/file",
                    "dd if=/dev/urandom of=random.bin bs=1k count=512 2>/dev/null",
                ].join("\n"),
            );
            const result = await backupNow(prod);
            assert.match(result.stdout + result.stderr, /created/);
            const ext = { gzip: "tar.gz", zstd: "tar.zst", none: "tar" }[compression]!;
            const archives = (await archivesIn(shared)).filter((a) => a.startsWith(prod.name("")));
            assert.equal(archives.length, 1);
            assert.match(archives[0], archivePattern(prod.name("").slice(0, -1), "data", ext));
            const sidecars = await filesIn(shared);
            assert.ok(sidecars.includes(`${archives[0]}.sha256`) && sidecars.includes(`${archives[0]}.manifest.json`));
            const manifest = JSON.parse(fs.readFileSync(path.join(shared, `${archives[0]}.manifest.json`), "utf8"));
            assert.equal(manifest.volume, "data");
            assert.equal(manifest.compression, compression);

            const staging = newStack(`staging-${compression}`);
            await staging.up(
                stackArgs(
                    { targetPath: shared, targetVolume: undefined, volumes: ["data"] },
                    { restores: [{ volume: "data", from: "latest", prefix: prod.name("").slice(0, -1) }] },
                ),
            );
            assert.equal(await treeDigest(staging.name("data")), await treeDigest(prod.name("data")), `${compression} round trip`);
        }
    });

    it("keeps the last N archives per volume over repeated runs", async () => {
        const s = newStack("retention");
        await s.up(stackArgs({ keepLast: 3 }));
        await s.exec("app", "echo v1 > /data/file");
        for (let i = 1; i <= 5; i++) {
            await backupNow(s, { BACKUP_TIMESTAMP: `2026010${i}T030000Z` });
        }
        const archives = await archivesIn(s.name("backups"));
        assert.deepEqual(
            archives.map((a) => a.slice(-23, -7)),
            ["20260103T030000Z", "20260104T030000Z", "20260105T030000Z"],
        );
        const listed = await docker(["exec", s.name("backup"), "list"]);
        assert.equal(listed.stdout.trim().split("\n").length, 3);
    });

    it("leaves no partial archive and earlier archives intact when killed mid-backup", async () => {
        const s = newStack("kill");
        await s.up(stackArgs({}));
        await s.exec("app", "echo small > /data/file");
        await backupNow(s, { BACKUP_TIMESTAMP: "20260101T000000Z" });
        const [first] = await archivesIn(s.name("backups"));
        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1M count=192 2>/dev/null");

        const running = backupNow(s, {}, true);
        // Watch the target volume from the host (fast), and SIGKILL the whole job
        // container as soon as the new archive's partial file is being written.
        const mountpoint = (await docker(["volume", "inspect", "-f", "{{.Mountpoint}}", s.name("backups")])).stdout.trim();
        const deadline = Date.now() + 60_000;
        while (!fs.readdirSync(mountpoint).some((f) => f.includes(".partial-"))) {
            assert.ok(Date.now() < deadline, "a partial archive appeared");
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await docker(["kill", s.name("backup")]);
        assert.ok(
            fs.readdirSync(mountpoint).some((f) => f.includes(".partial-")),
            "killed mid-write: the partial file is still there",
        );
        await running;
        const after = await filesIn(s.name("backups"));
        assert.deepEqual(
            after.filter((f) => !f.startsWith(".")),
            [first, `${first}.manifest.json`, `${first}.sha256`],
        );

        await docker(["start", s.name("backup")]);
        await docker(["exec", s.name("backup"), "verify", first]);
        await backupNow(s);
        const cleaned = await filesIn(s.name("backups"));
        assert.ok(!cleaned.some((f) => f.includes("partial")), `the next run cleans the partial: ${cleaned.join(", ")}`);
        assert.equal((await archivesIn(s.name("backups"))).length, 2);
    });

    it("fails clearly on a full backup target and keeps earlier archives", async () => {
        const s = newStack("full");
        await s.up(stackArgs({}, { volumes: { data: {}, backups: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=2m" } } } }));
        await s.exec("app", "echo small > /data/file");
        await backupNow(s, { BACKUP_TIMESTAMP: "20260101T000000Z" });
        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1M count=4 2>/dev/null");
        const failed = await backupNow(s, {}, true);
        assert.notEqual(failed.code, 0);
        assert.match(failed.stderr, /error: .*data/);
        const after = await filesIn(s.name("backups"));
        assert.ok(!after.some((f) => f.includes("partial")), "no temporary file is left");
        assert.equal((await archivesIn(s.name("backups"))).length, 1);
        await docker(["exec", s.name("backup"), "verify"]);
    });

    it("reports a corrupted archive in verify, and a restore of it fails and leaves the volume untouched", async () => {
        const shared = tempDir();
        const s = newStack("corrupt");
        await s.up(stackArgs({ targetPath: shared, targetVolume: undefined }));
        await s.exec("app", "dd if=/dev/urandom of=/data/file bs=1k count=64 2>/dev/null");
        await backupNow(s);
        const [archive] = await archivesIn(shared);
        const file = path.join(shared, archive);
        const bytes = fs.readFileSync(file);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        fs.writeFileSync(file, bytes);

        const verified = await docker(["exec", s.name("backup"), "verify"], { allowFail: true });
        assert.notEqual(verified.code, 0);
        assert.match(verified.stdout + verified.stderr, new RegExp(`CORRUPT ${archive.replace(/\./g, "\\.")}`));

        const clone = newStack("corrupt-clone");
        await assert.rejects(
            clone.up(
                stackArgs(
                    { targetPath: shared, targetVolume: undefined },
                    { restores: [{ volume: "data", from: archive, prefix: s.name("").slice(0, -1) }] },
                ),
            ),
            /restore-data.*(checksum|corrupt|cannot be restored)/is,
        );
        assert.deepEqual(await filesIn(clone.name("data")), [], "the target volume is untouched");
        assert.equal((await docker(["ps", "-aq", "--filter", `name=${clone.name("app")}`])).stdout.trim(), "", "the app never started");
    });

    it("refuses to restore into a non-empty volume unless force is set", async () => {
        const s = newStack("nonempty");
        await s.up(stackArgs({}));
        await s.exec("app", "echo archived > /data/file");
        await backupNow(s);
        await s.exec("app", "echo newer > /data/file");

        await assert.rejects(s.up(stackArgs({}, { restores: [{ volume: "data", from: "latest" }] })), /not empty.*force: true/s);
        assert.equal((await s.exec("app", "cat /data/file")).stdout, "newer\n");

        await s.up(stackArgs({}, { restores: [{ volume: "data", from: "latest", force: true }] }));
        assert.equal((await s.exec("app", "cat /data/file")).stdout, "archived\n");
    });

    it("serializes concurrent runs on one target", async () => {
        const s = newStack("concurrent");
        await s.up(stackArgs({}));
        await s.exec("app", "dd if=/dev/urandom of=/data/file bs=1M count=32 2>/dev/null");
        const [a, b] = await Promise.all([backupNow(s, {}, true), backupNow(s, {}, true)]);
        assert.equal(a.code, 0, a.stderr);
        assert.equal(b.code, 0, b.stderr);
        const archives = await archivesIn(s.name("backups"));
        assert.equal(archives.length, 2);
        await docker(["exec", s.name("backup"), "verify"]);
    });

    it("backs up before replacing an app container, and a failing backup stops the replacement", async () => {
        const s = newStack("gate");
        const args = (version: string) =>
            stackArgs(
                {},
                {
                    volumes: { data: {}, backups: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=3m" } } },
                    containers: {
                        app: idleContainer({ env: { VERSION: version }, mounts: [{ type: "volume", volume: "data", target: "/data" }] }),
                    },
                },
            );
        await s.up(args("1"));
        assert.deepEqual(await archivesIn(s.name("backups")), [], "an empty volume is not backed up");
        await s.exec("app", "echo state > /data/file");
        await s.up(args("2"));
        assert.equal((await archivesIn(s.name("backups"))).length, 1, "the replacement was preceded by a backup");

        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1M count=4 2>/dev/null");
        const id = (await docker(["inspect", "--format", "{{.Id}}", s.name("app")])).stdout.trim();
        await assert.rejects(s.up(args("3")), /predeploy-app/);
        assert.equal((await docker(["inspect", "--format", "{{.Id}} {{.State.Running}}", s.name("app")])).stdout.trim(), `${id} true`);
        assert.equal((await s.exec("app", "cat /data/file")).stdout, "state\n");
    });

    it("takes a final backup on destroy, after the app containers are gone", async () => {
        const shared = tempDir();
        const s = newStack("final");
        await s.up(stackArgs({ targetPath: shared, targetVolume: undefined, onDestroy: true, onDeploy: false }));
        await s.exec("app", "echo last words > /data/file");
        await s.destroy();
        const archives = await archivesIn(shared);
        assert.equal(archives.length, 1);
        const listing = await docker([
            "run",
            "--rm",
            "-v",
            `${shared}:/b:ro`,
            TEST_IMAGE,
            "tar",
            "xzf",
            `/b/${archives[0]}`,
            "-O",
            "./file",
        ]);
        assert.equal(listing.stdout, "last words\n");
    });

    it("runs scheduled backups from cron and logs every run", async function () {
        this.timeout(150_000);
        const s = newStack("schedule");
        await s.up(stackArgs({ schedule: "* * * * *" }));
        await s.exec("app", "echo tick > /data/file");
        const deadline = Date.now() + 130_000;
        while ((await archivesIn(s.name("backups"))).length === 0) {
            assert.ok(Date.now() < deadline, "a scheduled backup ran within two minutes");
            await new Promise((r) => setTimeout(r, 2000));
        }
        const logs = await docker(["logs", s.name("backup")]);
        assert.match(logs.stdout + logs.stderr, /created .*-data-\d{8}T\d{6}Z\.tar\.gz/);
    });
});
