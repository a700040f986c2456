// The component on a real Docker daemon: data written through its containers
// survives what a user does to a stack (recreate, share, tear down, re-deploy).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { docker, requireDocker, treeDigest, volumeExists } from "../helpers/docker";
import { engineSuite, idleContainer } from "../helpers/engine";

/** Writes a tree that exercises what file-level copies get wrong. */
const richTree = [
    "set -e",
    "cd /data",
    "mkdir -p 'dir with spaces/empty' deep/a/b/c",
    "printf 'hello\\n' > plain.txt",
    "printf 'secret' > private && chmod 600 private",
    "printf 'x' > 'dir with spaces/ünïcödé – name.txt'",
    "printf 'y' > \"$(printf 'new\\nline')\"",
    "ln -s plain.txt link-to-plain",
    "ln -s /nowhere dangling",
    "ln plain.txt hardlink",
    "printf 'owned' > owned && chown 1000:1000 owned && chmod 640 owned",
    "chmod 2750 deep/a && chown 1000:1000 deep/a/b",
    "dd if=/dev/urandom of=deep/a/b/c/random.bin bs=1k count=256 2>/dev/null",
].join("\n");

describe("data survives on a real Docker engine", function () {
    const { newStack, tempDir } = engineSuite();

    before(async function () {
        await requireDocker(this);
    });

    it("a: keeps every file, mode, owner, link and empty directory when its container is recreated", async () => {
        const s = newStack("recreate");
        const args = (env: Record<string, string>) => ({
            volumes: { data: {} },
            containers: { app: idleContainer({ env, mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
        });
        await s.up(args({ VERSION: "1" }));
        await s.exec("app", richTree);
        const before = await treeDigest(s.name("data"));
        const idBefore = (await docker(["inspect", "--format", "{{.Id}}", s.name("app")])).stdout.trim();

        const result = await s.up(args({ VERSION: "2" }));
        assert.ok(
            result.replaced.some((r) => r.endsWith("::app-ctr-app")),
            "the container was replaced",
        );
        const idAfter = (await docker(["inspect", "--format", "{{.Id}}", s.name("app")])).stdout.trim();
        assert.notEqual(idAfter, idBefore);
        assert.equal(await treeDigest(s.name("data")), before);
        const links = await s.exec("app", "stat -c %i /data/plain.txt /data/hardlink | uniq | wc -l");
        assert.equal(links.stdout.trim(), "1", "the hard link still shares the inode");
    });

    it("b: shares a volume between two containers: one writes, the other reads", async () => {
        const s = newStack("shared");
        await s.up({
            volumes: { uploads: {} },
            containers: {
                web: idleContainer({ mounts: [{ type: "volume", volume: "uploads", target: "/uploads" }] }),
                thumbs: idleContainer({ mounts: [{ type: "volume", volume: "uploads", target: "/in", readOnly: true }] }),
            },
        });
        await s.exec("web", "echo picture > /uploads/cat.jpg");
        assert.equal((await s.exec("thumbs", "cat /in/cat.jpg")).stdout, "picture\n");
        const denied = await s.exec("thumbs", "echo x > /in/other.jpg", { allowFail: true });
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /Read-only file system/);
    });

    it("c: keeps retained volumes on destroy and re-attaches them on the next deploy; a throwaway stack loses them", async () => {
        const s = newStack("retain");
        const args = {
            volumes: { pgdata: {} },
            containers: { db: idleContainer({ mounts: [{ type: "volume", volume: "pgdata", target: "/var/lib/postgresql/data" }] }) },
        };
        await s.up(args);
        await s.exec("db", "echo 'row 1' > /var/lib/postgresql/data/table");
        await s.destroy();
        assert.ok(await volumeExists(s.name("pgdata")), "the retained volume survives destroy");
        assert.equal((await docker(["ps", "-aq", "--filter", `label=${s.label}`])).stdout.trim(), "", "no container is left");

        await s.up(args);
        assert.equal((await s.exec("db", "cat /var/lib/postgresql/data/table")).stdout, "row 1\n");
        await s.destroy();

        const throwaway = newStack("throwaway");
        await throwaway.up({ ...args, protection: { retainOnDelete: false } });
        await throwaway.exec("db", "echo 'row 1' > /var/lib/postgresql/data/table");
        await throwaway.destroy();
        assert.equal(await volumeExists(throwaway.name("pgdata")), false);
    });

    it("d: binds a configured host directory in dev (created when missing): host edits are seen inside, container writes on the host", async () => {
        const hostDir = tempDir();
        fs.writeFileSync(path.join(hostDir, "config.ini"), "debug=false\n");
        const s = newStack("bind");
        await s.up({ containers: { app: idleContainer({ mounts: [{ type: "bind", source: hostDir, target: "/srv/app" }] }) } });
        assert.equal((await s.exec("app", "cat /srv/app/config.ini")).stdout, "debug=false\n");
        fs.writeFileSync(path.join(hostDir, "config.ini"), "debug=true\n");
        assert.equal((await s.exec("app", "cat /srv/app/config.ini")).stdout, "debug=true\n");
        await s.exec("app", "echo started > /srv/app/app.log");
        assert.equal(fs.readFileSync(path.join(hostDir, "app.log"), "utf8"), "started\n");
        await s.destroy();
        assert.ok(fs.existsSync(path.join(hostDir, "app.log")), "destroy never touches a bind mount's host directory");

        // A fresh dev machine: the configured directory does not exist yet.
        const missing = path.join(tempDir(), "not", "yet");
        const fresh = newStack("bind-missing");
        await fresh.up({ containers: { app: idleContainer({ mounts: [{ type: "bind", source: missing, target: "/srv/app" }] }) } });
        await fresh.exec("app", "echo created > /srv/app/file");
        assert.equal(fs.readFileSync(path.join(missing, "file"), "utf8"), "created\n");
        const strict = newStack("bind-strict");
        await assert.rejects(
            strict.up({
                containers: {
                    app: idleContainer({
                        mounts: [{ type: "bind", source: `${missing}-nope`, target: "/srv/app", createHostPath: false }],
                    }),
                },
            }),
            /does not exist/,
        );
    });

    it("e: refuses writes to a read-only mount and starts a tmpfs mount empty after a restart", async () => {
        const s = newStack("rotmp");
        await s.up({
            volumes: { conf: {} },
            containers: {
                app: idleContainer({
                    mounts: [
                        { type: "volume", volume: "conf", target: "/conf", readOnly: true },
                        { type: "tmpfs", target: "/scratch", size: "8m", mode: "1770" },
                    ],
                }),
            },
        });
        const denied = await s.exec("app", "touch /conf/x", { allowFail: true });
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /Read-only file system/);
        await s.exec("app", "echo temp > /scratch/file");
        const mount = (await s.exec("app", "grep ' /scratch ' /proc/mounts")).stdout;
        assert.match(mount, /tmpfs \/scratch tmpfs .*size=8192k/);
        assert.match(mount, /mode=1770/);
        await docker(["restart", "--time", "1", s.name("app")]);
        assert.equal((await s.exec("app", "ls -A /scratch")).stdout, "");
    });

    it("f: uses an external volume but neither creates nor deletes it", async () => {
        const s = newStack("external");
        const legacy = `${s.name("legacy")}-preexisting`;
        await docker(["volume", "create", "--label", s.label, legacy]);
        await docker(["run", "--rm", "-v", `${legacy}:/d`, "pds-test/busybox", "sh", "-c", "echo old > /d/data"]);
        const result = await s.up({
            volumes: { legacy: { external: true, name: legacy } },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "legacy", target: "/legacy" }] }) },
        });
        assert.ok(!result.created.some((r) => r.startsWith("docker:index/volume:Volume")), "no volume was created");
        assert.equal((await s.exec("app", "cat /legacy/data")).stdout, "old\n");
        await s.destroy();
        assert.ok(await volumeExists(legacy));
    });

    it("g: honours local-driver options: a tmpfs-backed volume and a bind to a device path", async () => {
        const device = tempDir();
        const s = newStack("driveropts");
        await s.up({
            protection: { retainOnDelete: false },
            volumes: {
                cache: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=4m" } },
                exported: { driverOpts: { type: "none", o: "bind", device } },
            },
            containers: {
                app: idleContainer({
                    mounts: [
                        { type: "volume", volume: "cache", target: "/cache" },
                        { type: "volume", volume: "exported", target: "/exported" },
                    ],
                }),
            },
        });
        assert.match((await s.exec("app", "grep ' /cache ' /proc/mounts")).stdout, /^tmpfs \/cache tmpfs .*size=4096k/);
        await s.exec("app", "echo out > /exported/file");
        assert.equal(fs.readFileSync(path.join(device, "file"), "utf8"), "out\n");
        const inspected = JSON.parse((await docker(["volume", "inspect", s.name("cache")])).stdout)[0];
        assert.deepEqual(inspected.Options, { type: "tmpfs", device: "tmpfs", o: "size=4m" });
        assert.equal(inspected.Labels["pds.stack"], s.stack);
        await s.destroy();
        assert.equal(await volumeExists(s.name("cache")), false);
    });
});
