// The restic engine through the component on a real Docker daemon: backups
// with `docker exec <stack>-backup backup-now`, restores through config, a
// local repository on the backup target and a remote one over SFTP.
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { PersistentStackArgs } from "../../components";
import { docker, removeByLabel, requireDocker, treeDigest } from "../helpers/docker";
import { EngineStack, engineSuite, idleContainer } from "../helpers/engine";

const RESTIC_IMAGE = process.env.PDS_RESTIC_IMAGE ?? "pds-test/restic:latest";
const SSHD_IMAGE = process.env.PDS_SSHD_IMAGE ?? "pds-test/sshd:latest";

/** Bytes under a host directory (the repository), as du counts them. */
function duBytes(dir: string): number {
    let total = 0;
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else total += fs.statSync(p).size;
        }
    };
    walk(dir);
    return total;
}

/** A stack whose volume `data` is backed up with restic into `repository` (a host dir by default). */
function resticStack(
    target: string,
    password: string,
    extra: Partial<NonNullable<PersistentStackArgs["backup"]>> = {},
    restores?: PersistentStackArgs["restores"],
): PersistentStackArgs {
    return {
        protection: { retainOnDelete: false },
        volumes: { data: {} },
        containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
        backup: {
            volumes: ["data"],
            engine: "restic",
            targetPath: target,
            image: RESTIC_IMAGE,
            pull: false,
            onDeploy: false,
            lockTimeoutSeconds: 60,
            ...extra,
            restic: { password, ...extra.restic },
        },
        restores,
    };
}

const fillData = [
    "set -e; cd /data",
    "mkdir -p 'empty dir' a/b && printf 'hello\\n' > a/b/file && ln -s a/b/file link && ln a/b/file hard",
    "printf x > \"$(printf 'new\\nline')\" && printf y > 'ünïcödé name' && chown 1000:1000 a/b/file && chmod 640 a/b/file",
    "dd if=/dev/urandom of=random.bin bs=1M count=8 2>/dev/null",
].join("\n");

describe("restic engine on a real Docker engine", function () {
    const { newStack, tempDir } = engineSuite();
    const ops = (s: EngineStack, args: string[], env: Record<string, string> = {}) =>
        docker(["exec", ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]), s.name("backup"), ...args], { allowFail: true });
    const prefixOf = (s: EngineStack) => s.name("").slice(0, -1);

    before(async function () {
        await requireDocker(this, { image: RESTIC_IMAGE });
    });

    it("round-trips a tree, and a second backup of unchanged data adds under 1% to the repository", async () => {
        const target = tempDir();
        const prod = newStack("restic-prod");
        await prod.up(resticStack(target, "pw-prod"));
        await prod.exec("app", fillData);
        const first = await ops(prod, ["backup-now"]);
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stdout, /created snapshot [0-9a-f]+ of data/);
        const afterFirst = duBytes(path.join(target, "restic"));
        const second = await ops(prod, ["backup-now"]);
        assert.equal(second.code, 0, second.stderr);
        const added = duBytes(path.join(target, "restic")) - afterFirst;
        assert.ok(added < afterFirst * 0.01, `the second backup added ${added} bytes to ${afterFirst}`);

        const staging = newStack("restic-staging");
        await staging.up(resticStack(target, "pw-prod", {}, [{ volume: "data", from: "latest", prefix: prefixOf(prod) }]));
        assert.equal(await treeDigest(staging.name("data")), await treeDigest(prod.name("data")));
    });

    it("fails clearly with a wrong password and changes nothing", async () => {
        const target = tempDir();
        const s = newStack("restic-pw");
        await s.up(resticStack(target, "right"));
        await s.exec("app", "echo data > /data/file");
        assert.equal((await ops(s, ["backup-now"])).code, 0);
        // The repository (the target also holds each stack's run record, .pds-status/).
        const repository = path.join(target, "restic");
        const before = await treeDigest(repository);

        const intruder = newStack("restic-wrongpw");
        await intruder.up(resticStack(target, "wrong"));
        await intruder.exec("app", "echo other > /data/file");
        const r = await ops(intruder, ["backup-now"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /password/i);
        assert.equal(await treeDigest(repository), before, "the repository is unchanged");
    });

    it("reports a damaged pack file in check", async () => {
        const target = tempDir();
        const s = newStack("restic-check");
        await s.up(resticStack(target, "pw"));
        await s.exec("app", "dd if=/dev/urandom of=/data/blob bs=1M count=2 2>/dev/null");
        assert.equal((await ops(s, ["backup-now"])).code, 0);
        assert.match((await ops(s, ["verify"], { BACKUP_CHECK_SUBSET: "100%" })).stdout, /^OK /m);

        const packs: string[] = [];
        const walk = (d: string) =>
            fs
                .readdirSync(d, { withFileTypes: true })
                .forEach((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : packs.push(path.join(d, e.name))));
        walk(path.join(target, "restic", "data"));
        const largest = packs.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
        const bytes = fs.readFileSync(largest);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        fs.writeFileSync(largest, bytes);

        const check = await ops(s, ["verify"], { BACKUP_CHECK_SUBSET: "100%" });
        assert.equal(check.code, 1);
        assert.match(check.stdout, /^CORRUPT /m);
    });

    it("keeps exactly what the forget policy says", async () => {
        const target = tempDir();
        const s = newStack("restic-forget");
        await s.up(resticStack(target, "pw", { keepLast: 2 }));
        for (let i = 1; i <= 4; i++) {
            await s.exec("app", `echo ${i} > /data/file`);
            const r = await ops(s, ["backup-now"], { BACKUP_TIMESTAMP: `2026010${i}T030000Z` });
            assert.equal(r.code, 0, r.stderr);
        }
        const list = await ops(s, ["list"]);
        const lines = list.stdout.trim().split("\n");
        assert.equal(lines.length, 2, list.stdout);
        assert.match(list.stdout, /2026-01-04/);
        assert.match(list.stdout, /2026-01-03/);
    });

    it("gates a container replacement and takes a final backup on destroy, like the tar engine", async () => {
        const target = tempDir();
        const s = newStack("restic-gate");
        const args = (version: string) => {
            const a = resticStack(target, "pw", { onDeploy: true, onDestroy: true });
            a.containers!.app.env = { VERSION: version };
            return a;
        };
        await s.up(args("1"));
        await s.exec("app", "echo state > /data/file");
        const replaced = await s.up(args("2"));
        assert.ok(replaced.replaced.some((r) => r.endsWith("::app-ctr-app")));
        const afterGate = await ops(s, ["list"]);
        assert.equal(afterGate.stdout.trim().split("\n").length, 1, `one snapshot before the replacement: ${afterGate.stdout}`);
        await s.destroy();
        const checker = newStack("restic-gate-check");
        await checker.up(resticStack(target, "pw"));
        const list = await ops(checker, ["list"], { BACKUP_PREFIX: prefixOf(s) });
        assert.equal(list.stdout.trim().split("\n").length, 2, `the final backup added a snapshot: ${list.stdout}`);
    });

    describe("a remote repository over SFTP", () => {
        const id = randomBytes(3).toString("hex");
        const label = `pds.test=restic-sftp-${id}`;
        const net = `pds-sftp-${id}`;
        const sshd = `pds-sftp-sshd-${id}`;
        let keys = "";

        before(async function () {
            await requireDocker(this, { image: SSHD_IMAGE });
            keys = tempDir();
            await docker([
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "/bin/sh",
                "-v",
                `${keys}:/k`,
                SSHD_IMAGE,
                "-c",
                "ssh-keygen -q -t ed25519 -N '' -C pds -f /k/id_ed25519",
            ]);
            await docker(["network", "create", "--internal", "--label", label, net]);
            await docker([
                "run",
                "-d",
                "--name",
                sshd,
                "--label",
                label,
                "--network",
                net,
                "-v",
                `${path.join(keys, "id_ed25519.pub")}:/run/pds/authorized_keys:ro`,
                SSHD_IMAGE,
            ]);
            const deadline = Date.now() + 20_000;
            while (!/Server listening on/.test(((r) => r.stdout + r.stderr)(await docker(["logs", sshd], { allowFail: true })))) {
                assert.ok(Date.now() < deadline, "sshd started");
                await new Promise((r) => setTimeout(r, 200));
            }
        });

        after(async () => {
            await removeByLabel(label);
        });

        it("backs up to and restores from sftp:, with the key and password as secret files, in clear neither in docker inspect nor in the state", async () => {
            const sshKey = fs.readFileSync(path.join(keys, "id_ed25519"), "utf8");
            const remote = { repository: `sftp:backup@${sshd}:/home/backup/repo`, network: net, sshKey };
            const prod = newStack("sftp-prod");
            await prod.up({ ...resticStack("/unused", "pw-sftp", { targetPath: undefined, restic: remote }) });
            await prod.exec("app", fillData);
            const r = await ops(prod, ["backup-now"]);
            assert.equal(r.code, 0, r.stderr);
            const inspect = (await docker(["inspect", prod.name("backup")])).stdout;
            assert.ok(!inspect.includes("pw-sftp") && !inspect.includes("PRIVATE KEY"), "no secret in docker inspect");
            const resources = await prod.resources();
            const leaks = resources.filter((r) => JSON.stringify(r).includes("pw-sftp")).map((r) => r.urn);
            assert.deepEqual(leaks, [], "the restic password is not in the state in plain text");
            const state = JSON.stringify(resources);
            assert.ok(!state.includes("PRIVATE KEY") && !state.includes(Buffer.from(sshKey).toString("base64")), "nor the SSH key");

            const staging = newStack("sftp-staging");
            await staging.up(
                resticStack("/unused", "pw-sftp", { targetPath: undefined, restic: remote }, [
                    { volume: "data", from: "latest", prefix: prefixOf(prod) },
                ]),
            );
            assert.equal(await treeDigest(staging.name("data")), await treeDigest(prod.name("data")));
        });
    });
});
