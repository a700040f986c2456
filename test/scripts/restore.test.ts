// restore.sh: non-destructive by default, verify before touching the target,
// force replaces the contents (not the mount point), latest skips corrupt ones.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { flipByte, inode, Sandbox, T, treeDigest } from "./helpers";

describe("restore.sh", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "gen.txt": "generation 1", "conf/a.conf": "a=1" });
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        sb.volume("db", { "gen.txt": "generation 2" });
        sb.backup({ BACKUP_TIMESTAMP: T(1) });
    });
    afterEach(() => sb.cleanup());

    const archive = (ts: string): string => `prod-db-${ts}.tar.gz`;
    const read = (rel: string): string => fs.readFileSync(path.join(sb.restore, rel), "utf8");

    /** Put existing data into the target: a dotfile, a dir and a symlink. */
    function occupy(): Record<string, unknown> {
        fs.writeFileSync(path.join(sb.restore, ".hidden"), "existing data");
        fs.mkdirSync(path.join(sb.restore, "old/deep"), { recursive: true });
        fs.writeFileSync(path.join(sb.restore, "old/deep/file"), "old");
        fs.symlinkSync("old", path.join(sb.restore, "old-link"));
        return treeDigest(sb.restore);
    }

    it("restores the latest archive into an empty target", () => {
        const r = sb.run("restore.sh", { RESTORE_VOLUME: "db" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(read("gen.txt"), "generation 2");
        assert.equal(r.stdout, `restored ${archive(T(1))} into ${sb.restore}: 2 files, 3 entries, 15 B\n`);
    });

    it("refuses a non-empty target (even only a dotfile) without force, and leaves it untouched", () => {
        fs.writeFileSync(path.join(sb.restore, ".only-a-dotfile"), "precious");
        const before = treeDigest(sb.restore);
        const r = sb.run("restore.sh", { RESTORE_VOLUME: "db" });
        assert.equal(r.status, 4);
        assert.match(
            r.stderr,
            /^restore\.sh: error: volume db: restore target .* is not empty; refusing to overwrite existing data \(set force: true/m,
        );
        assert.deepEqual(treeDigest(sb.restore), before);
    });

    it("with force, replaces the contents but keeps the mount point itself", () => {
        occupy();
        const mountInode = inode(sb.restore);
        const r = sb.run("restore.sh", { RESTORE_VOLUME: "db", RESTORE_FORCE: "true" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(inode(sb.restore), mountInode);
        assert.deepEqual(treeDigest(sb.restore), treeDigest(path.join(sb.sources, "db")));
    });

    it("restores a named archive, also one of another prefix (seed staging from prod)", () => {
        const r = sb.run("restore.sh", { BACKUP_PREFIX: "staging", RESTORE_VOLUME: "db", RESTORE_FROM: archive(T(0)) });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(read("gen.txt"), "generation 1");
    });

    it("a corrupt named archive fails before the target is touched, even with force", () => {
        const before = occupy();
        flipByte(sb.file(archive(T(0))));
        const r = sb.run("restore.sh", { RESTORE_VOLUME: "db", RESTORE_FROM: archive(T(0)), RESTORE_FORCE: "true" });
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            new RegExp(
                `^restore\\.sh: error: volume db: archive ${archive(T(0))} cannot be restored: checksum mismatch .*; target left untouched$`,
                "m",
            ),
        );
        assert.deepEqual(treeDigest(sb.restore), before);
    });

    it("a missing named archive or checksum fails before the target is touched", () => {
        const before = occupy();
        const missing = sb.run("restore.sh", {
            RESTORE_VOLUME: "db",
            RESTORE_FROM: "prod-db-20200101T000000Z.tar.gz",
            RESTORE_FORCE: "true",
        });
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /cannot be restored: archive not found; target left untouched/);
        fs.rmSync(sb.file(`${archive(T(0))}.sha256`));
        const unchecked = sb.run("restore.sh", { RESTORE_VOLUME: "db", RESTORE_FROM: archive(T(0)), RESTORE_FORCE: "true" });
        assert.equal(unchecked.status, 1);
        assert.match(unchecked.stderr, /cannot be restored: missing checksum file/);
        assert.deepEqual(treeDigest(sb.restore), before);
    });

    it("latest skips a corrupt newest archive and restores the newest good one", () => {
        flipByte(sb.file(archive(T(1))));
        const r = sb.run("restore.sh", { RESTORE_VOLUME: "db" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(
            r.stderr,
            new RegExp(`^restore\\.sh: warning: volume db: skipping corrupt archive ${archive(T(1))}: checksum mismatch`, "m"),
        );
        assert.equal(read("gen.txt"), "generation 1");
    });

    it("latest fails, leaving the target untouched, when no archive verifies or none exists", () => {
        const before = occupy();
        flipByte(sb.file(archive(T(0))));
        flipByte(sb.file(archive(T(1))));
        const corrupt = sb.run("restore.sh", { RESTORE_VOLUME: "db", RESTORE_FORCE: "true" });
        assert.equal(corrupt.status, 1);
        assert.match(corrupt.stderr, /volume db: none of the 2 archive\(s\) of prod-db verifies good; target left untouched/);
        const none = sb.run("restore.sh", { RESTORE_VOLUME: "cache", RESTORE_FORCE: "true" });
        assert.equal(none.status, 1);
        assert.match(none.stderr, /volume cache: no archive named prod-cache-\* in .*; target left untouched/);
        assert.deepEqual(treeDigest(sb.restore), before);
    });

    describe("configuration errors exit 2", () => {
        const bad: Array<[string, Record<string, string>, RegExp]> = [
            ["force not a boolean", { RESTORE_VOLUME: "db", RESTORE_FORCE: "yes" }, /RESTORE_FORCE must be true or false/],
            ["latest without a volume", {}, /RESTORE_VOLUME is required/],
            ["a path as archive", { RESTORE_FROM: "../etc/passwd.tar" }, /RESTORE_FROM must be 'latest' or an archive file name/],
            ["not an archive name", { RESTORE_FROM: "notes.txt" }, /RESTORE_FROM 'notes\.txt' is not an archive name/],
            ["missing target", { RESTORE_VOLUME: "db", RESTORE_TARGET_DIR: "/nonexistent" }, /restore target \/nonexistent does not exist/],
        ];
        for (const [what, env, msg] of bad) {
            it(what, () => {
                const r = sb.run("restore.sh", env);
                assert.equal(r.status, 2, r.stderr);
                assert.match(r.stderr, msg);
            });
        }
    });
});
