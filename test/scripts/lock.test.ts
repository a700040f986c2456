// Runs on one target are serialised by flock on <target>/.pds.lock: writers
// (backup, prune) exclusively, restore shared.
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as path from "path";
import { finished, Sandbox, startScript, T, toolDir } from "./helpers";

/** Hold the target lock from outside (like another job) until `release` or `seconds`. */
async function holdLock(file: string, mode: "-x" | "-s", seconds = 30): Promise<ChildProcess> {
    const child = spawn(path.join(toolDir(), "flock"), [mode, file, "-c", `echo locked; exec sleep ${seconds}`], {
        stdio: ["ignore", "pipe", "inherit"],
        detached: true, // own process group: release() must also kill the sleep holding the fd
    });
    await new Promise<void>((resolve, reject) => {
        child.on("error", reject);
        child.on("exit", (code) => reject(new Error(`lock holder exited early (${code})`)));
        child.stdout!.on("data", (d: Buffer) => {
            if (d.toString().includes("locked")) resolve();
        });
    });
    child.removeAllListeners("exit");
    return child;
}

function release(child: ChildProcess | undefined): void {
    try {
        if (child?.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
        // already gone
    }
}

describe("target lock", () => {
    let sb: Sandbox;
    let holder: ChildProcess | undefined;
    let lockFile: string;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha" });
        lockFile = sb.file(".pds.lock");
    });
    afterEach(() => {
        release(holder);
        holder = undefined;
        sb.cleanup();
    });

    it("a backup gives up after BACKUP_LOCK_TIMEOUT with a clear message (exit 3)", async () => {
        holder = await holdLock(lockFile, "-x");
        const started = Date.now();
        const r = sb.run("backup.sh", { BACKUP_LOCK_TIMEOUT: "2", BACKUP_TIMESTAMP: T(0) });
        assert.equal(r.status, 3, r.stderr);
        assert.ok(Date.now() - started >= 2000);
        assert.match(
            r.stderr,
            /^backup\.sh: error: timed out after 2s waiting for lock .*\/\.pds\.lock: another backup, prune or restore is running on this target$/m,
        );
        assert.deepEqual(sb.targetFiles(), []);
    });

    it("a backup waits for a lock released after 1 s, then succeeds", async () => {
        holder = await holdLock(lockFile, "-x", 1);
        const r = sb.run("backup.sh", { BACKUP_LOCK_TIMEOUT: "10", BACKUP_TIMESTAMP: T(0) });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /waiting up to 10s for lock/);
        assert.ok(sb.targetFiles().includes(`prod-db-${T(0)}.tar.gz`));
    });

    it("two concurrent backups run one after the other, both complete and verify", async () => {
        sb.volume("db", { "random.bin": crypto.randomBytes(8 * 1024 * 1024) });
        const runs = [T(0), T(1)].map((ts) => finished(startScript("backup.sh", sb.env({ BACKUP_TIMESTAMP: ts, BACKUP_KEEP_LAST: "0" }))));
        const results = await Promise.all(runs);
        for (const r of results) assert.equal(r.status, 0, r.stderr);
        assert.equal(results.filter((r) => /waiting up to 300s for lock/.test(r.stderr)).length, 1);
        const v = sb.run("verify.sh");
        assert.equal(v.status, 0, v.stderr);
        assert.equal(v.stdout.trim().split("\n").length, 2);
    });

    it("prune also needs the exclusive lock", async () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        holder = await holdLock(lockFile, "-x");
        const r = sb.run("prune.sh", { BACKUP_LOCK_TIMEOUT: "0" });
        assert.equal(r.status, 3);
        assert.match(r.stderr, /^prune\.sh: error: timed out after 0s waiting for lock/m);
    });

    it("restore shares the lock with other readers but waits for writers", async () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        holder = await holdLock(lockFile, "-s");
        const restored = sb.run("restore.sh", { RESTORE_VOLUME: "db", BACKUP_LOCK_TIMEOUT: "0" });
        assert.equal(restored.status, 0, restored.stderr);
        const backup = sb.run("backup.sh", { BACKUP_LOCK_TIMEOUT: "0", BACKUP_TIMESTAMP: T(1) });
        assert.equal(backup.status, 3, backup.stderr);
        release(holder);

        holder = await holdLock(lockFile, "-x");
        const blocked = sb.run("restore.sh", {
            RESTORE_VOLUME: "db",
            RESTORE_FORCE: "true",
            BACKUP_LOCK_TIMEOUT: "1",
        });
        assert.equal(blocked.status, 3, blocked.stderr);
        assert.match(blocked.stderr, /^restore\.sh: error: timed out after 1s waiting for lock/m);
    });
});
