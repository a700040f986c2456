// backup.sh: naming, sidecars, manifest, per-volume failures, configuration
// errors, same-second runs, failure cleanup (tar error, verify failure, disk full).
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { missingCapability } from "../helpers/capability";
import { runScript, Sandbox, SCRIPTS_DIR, sha256File, T, toolDir, wrappedToolDir } from "./helpers";

describe("backup.sh", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha", "sub/b.txt": "beta" });
    });
    afterEach(() => sb.cleanup());

    const cases: Array<[string, string, (b: Buffer) => boolean]> = [
        ["gzip", "tar.gz", (b) => b[0] === 0x1f && b[1] === 0x8b],
        ["zstd", "tar.zst", (b) => b.readUInt32LE(0) === 0xfd2fb528],
        ["none", "tar", (b) => b.subarray(257, 262).toString() === "ustar"],
    ];
    for (const [compression, ext, magic] of cases) {
        it(`names a ${compression} archive <prefix>-<volume>-<ts>.${ext} with its sidecars and nothing else`, () => {
            const r = sb.backup({ BACKUP_COMPRESSION: compression, BACKUP_TIMESTAMP: T(0) });
            const name = `prod-db-${T(0)}.${ext}`;
            assert.deepEqual(sb.targetFiles(), [name, `${name}.manifest.json`, `${name}.sha256`]);
            assert.ok(magic(fs.readFileSync(sb.file(name))), `${name} has the ${compression} format`);
            assert.match(r.stdout, new RegExp(`^created ${name.replace(/\./g, "\\.")}$`, "m"));
        });
    }

    it("defaults to gzip and to every directory in the sources dir", () => {
        sb.volume("web-static", { "index.html": "<h1>hi</h1>" });
        fs.writeFileSync(path.join(sb.sources, "not-a-volume.txt"), "ignored");
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        assert.deepEqual(
            sb.targetFiles().filter((n) => /\.tar\.gz$/.test(n)),
            [`prod-db-${T(0)}.tar.gz`, `prod-web-static-${T(0)}.tar.gz`],
        );
    });

    it("runs through a symlink in another directory (commands installed as links)", () => {
        const bin = path.join(sb.root, "bin");
        fs.mkdirSync(bin);
        fs.symlinkSync(path.join(SCRIPTS_DIR, "backup.sh"), path.join(bin, "pds-backup"));
        const r = spawnSync("busybox", ["sh", path.join(bin, "pds-backup")], {
            env: { PATH: toolDir(), ...sb.env({ BACKUP_TIMESTAMP: T(0) }) },
            encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        assert.ok(fs.existsSync(sb.file(`prod-db-${T(0)}.tar.gz`)));
    });

    it("writes a sha256sum-format checksum and a JSON manifest", () => {
        const big = Buffer.alloc(10_000, 7);
        sb.volume("db", { "big.bin": big });
        fs.linkSync(path.join(sb.sources, "db/big.bin"), path.join(sb.sources, "db/big-link.bin"));
        sb.backup({ BACKUP_COMPRESSION: "zstd", BACKUP_TIMESTAMP: "20240102T030405Z" });
        const name = "prod-db-20240102T030405Z.tar.zst";
        const sha = sha256File(sb.file(name));
        assert.equal(fs.readFileSync(sb.file(`${name}.sha256`), "utf8"), `${sha}  ${name}\n`);
        // The sidecar is usable by sha256sum -c from the target dir.
        const check = spawnSync("busybox", ["sha256sum", "-c", `${name}.sha256`], {
            cwd: sb.target,
            env: { PATH: toolDir() },
            encoding: "utf8",
        });
        assert.equal(check.status, 0, check.stderr);

        const m = JSON.parse(fs.readFileSync(sb.file(`${name}.manifest.json`), "utf8"));
        assert.equal(m.prefix, "prod");
        assert.equal(m.stack, "prod");
        assert.equal(m.volume, "db");
        assert.equal(m.archive, name);
        assert.equal(m.engine, "tar");
        assert.equal(m.timestamp, "20240102T030405Z");
        assert.equal(m.time, "2024-01-02T03:04:05Z");
        assert.equal(m.compression, "zstd");
        assert.equal(m.sha256, sha);
        assert.equal(m.archiveBytes, fs.statSync(sb.file(name)).size);
        // a.txt (5) + sub/b.txt (4) + big.bin (10000, counted once for both names)
        assert.equal(m.sourceBytes, 5 + 4 + 10_000);
        assert.equal(m.fileCount, 4);
        assert.equal(m.entryCount, 5); // + the sub directory
        assert.match(m.tools.busybox, /^BusyBox v\d/);
        assert.match(m.tools.zstd, /Zstandard.*v\d/);
    });

    it("continues after a failing volume, then exits non-zero naming it", () => {
        sb.volume("web", { "index.html": "ok" });
        const r = sb.run("backup.sh", { BACKUP_VOLUMES: "db ghost web", BACKUP_TIMESTAMP: T(0) });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^backup\.sh: error: volume ghost: source directory .*ghost does not exist/m);
        assert.match(r.stderr, /^backup\.sh: error: backup failed for volume\(s\): ghost$/m);
        assert.deepEqual(
            sb.targetFiles().filter((n) => /\.tar\.gz$/.test(n)),
            [`prod-db-${T(0)}.tar.gz`, `prod-web-${T(0)}.tar.gz`],
        );
    });

    it("archives an empty volume by default, skips it with BACKUP_SKIP_EMPTY=true", () => {
        sb.volume("fresh");
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        assert.ok(fs.existsSync(sb.file(`prod-fresh-${T(0)}.tar.gz`)));

        const r = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(1), BACKUP_SKIP_EMPTY: "true", BACKUP_KEEP_LAST: "1" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^skipped fresh \(empty\)$/m);
        assert.ok(fs.existsSync(sb.file(`prod-db-${T(1)}.tar.gz`)));
        assert.ok(!fs.existsSync(sb.file(`prod-fresh-${T(1)}.tar.gz`)));
        // Retention ran for db only: fresh keeps its (only) archive, db drops T(0).
        assert.ok(fs.existsSync(sb.file(`prod-fresh-${T(0)}.tar.gz`)));
        assert.ok(!fs.existsSync(sb.file(`prod-db-${T(0)}.tar.gz`)));
    });

    it("fails an invalid volume key without touching others", () => {
        const r = sb.run("backup.sh", { BACKUP_VOLUMES: "db ../etc", BACKUP_TIMESTAMP: T(0) });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /volume '\.\.\/etc': invalid volume key/);
        assert.ok(fs.existsSync(sb.file(`prod-db-${T(0)}.tar.gz`)));
    });

    describe("configuration errors exit 2 with a clear message", () => {
        const bad: Array<[string, Record<string, string>, RegExp]> = [
            ["missing prefix", { BACKUP_PREFIX: "" }, /BACKUP_PREFIX is required/],
            ["invalid prefix", { BACKUP_PREFIX: "-prod" }, /BACKUP_PREFIX '-prod' is invalid/],
            ["prefix with a newline", { BACKUP_PREFIX: "prod\nx" }, /BACKUP_PREFIX 'prod\nx' is invalid/],
            ["unknown compression", { BACKUP_COMPRESSION: "lz4" }, /BACKUP_COMPRESSION 'lz4' is invalid/],
            ["bad keep count", { BACKUP_KEEP_LAST: "many" }, /BACKUP_KEEP_LAST must be a non-negative integer/],
            ["bad skip-empty flag", { BACKUP_SKIP_EMPTY: "yes" }, /BACKUP_SKIP_EMPTY must be true or false/],
            ["bad timestamp", { BACKUP_TIMESTAMP: "2024-01-01" }, /BACKUP_TIMESTAMP '2024-01-01' is invalid/],
            ["impossible timestamp", { BACKUP_TIMESTAMP: "20241301T000000Z" }, /BACKUP_TIMESTAMP '20241301T000000Z' is invalid/],
            ["no sources", { BACKUP_SOURCES_DIR: "/nonexistent" }, /sources directory \/nonexistent does not exist/],
        ];
        for (const [what, env, msg] of bad) {
            it(what, () => {
                const r = sb.run("backup.sh", env);
                assert.equal(r.status, 2, r.stderr);
                assert.match(r.stderr, /^backup\.sh: error: /m);
                assert.match(r.stderr, msg);
                assert.deepEqual(sb.targetFiles(), []);
            });
        }

        it("zstd requested but not installed", () => {
            const r = runScript("backup.sh", sb.env({ BACKUP_COMPRESSION: "zstd" }), [], { pathDir: toolDir(false) });
            assert.equal(r.status, 2);
            assert.match(r.stderr, /^backup\.sh: error: 'zstd' not found on PATH \(needed for zstd compression/m);
            assert.deepEqual(sb.targetFiles(), []);
        });
    });

    it("never overwrites an archive of the same second (forced timestamp: the volume fails)", () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        const name = `prod-db-${T(0)}.tar.gz`;
        const before = sha256File(sb.file(name));
        sb.volume("db", { "a.txt": "changed" });
        const r = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(0), BACKUP_COMPRESSION: "zstd" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`${name.replace(/\./g, "\\.")} already exists; not overwriting`));
        assert.equal(sha256File(sb.file(name)), before);
        assert.equal(sb.targetFiles().filter((n) => n.includes(".tar.zst")).length, 0);
    });

    it("with the real clock, a run in an already used second waits for the next one", () => {
        sb.backup();
        sb.backup();
        const archives = sb.targetFiles().filter((n) => n.endsWith(".tar.gz"));
        assert.equal(archives.length, 2, archives.join(", "));
        assert.notEqual(archives[0], archives[1]);
    });

    it("applies retention after the run", () => {
        for (let i = 0; i < 3; i++) sb.backup({ BACKUP_TIMESTAMP: T(i) });
        const r = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(3), BACKUP_KEEP_LAST: "2" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^deleted prod-db-${T(0)}\\.tar\\.gz$`, "m"));
        assert.deepEqual(
            sb.targetFiles().filter((n) => n.endsWith(".tar.gz")),
            [`prod-db-${T(2)}.tar.gz`, `prod-db-${T(3)}.tar.gz`],
        );
    });

    describe("a failing run leaves no temporary file and earlier archives untouched", () => {
        let earlier: string;
        let earlierSha: string;
        beforeEach(() => {
            sb.backup({ BACKUP_TIMESTAMP: T(0) });
            earlier = `prod-db-${T(0)}.tar.gz`;
            earlierSha = sha256File(sb.file(earlier));
        });

        function assertCleanFailure(r: { status: number | null; stderr: string }, msg: RegExp): void {
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, msg);
            assert.match(r.stderr, /^backup\.sh: error: backup failed for volume\(s\): db$/m);
            const files = sb.targetFiles();
            assert.deepEqual(files, [earlier, `${earlier}.manifest.json`, `${earlier}.sha256`]);
            assert.equal(sha256File(sb.file(earlier)), earlierSha);
        }

        it("tar cannot read a file", () => {
            // Root reads everything, so run as nobody with one unreadable file.
            const nobody = 65534;
            fs.chmodSync(sb.root, 0o755);
            fs.chownSync(sb.target, nobody, nobody);
            fs.chownSync(sb.file(".pds.lock"), nobody, nobody);
            fs.writeFileSync(path.join(sb.sources, "db/private"), "no", { mode: 0o000 });
            const r = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(1) }, [], { uid: nobody });
            assertCleanFailure(
                r,
                /^backup\.sh: error: volume db: archiving failed: tar: can't open '\.\/private': Permission denied \[failed: tar:1\] \(free space in .*\)$/m,
            );
        });

        it("the written archive does not pass the test read", () => {
            // zstd is the one external binary, so PATH can swap in a compressor that drops
            // the stream's tail and still exits 0: only verification can notice.
            const zstd = fs.readlinkSync(path.join(toolDir(), "zstd"));
            const tools = wrappedToolDir(sb.root, {
                zstd: `case " $* " in *" -d"*) exec ${zstd} "$@" ;; esac\n${zstd} "$@" | head -c 64\n`,
            });
            const r = runScript("backup.sh", sb.env({ BACKUP_TIMESTAMP: T(1), BACKUP_COMPRESSION: "zstd" }), [], {
                pathDir: tools,
            });
            assertCleanFailure(r, /^backup\.sh: error: volume db: verify failed: test read: .*\[failed: /m);
        });

        it("the disk fills up during the write (fit check off)", function () {
            const small = path.join(sb.root, "small");
            fs.mkdirSync(small);
            const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", small]);
            if (m.status !== 0) missingCapability(this, `mount a tmpfs (needs root with CAP_SYS_ADMIN): ${m.stderr}`);
            try {
                const env = sb.env({ BACKUP_TARGET_DIR: small, BACKUP_COMPRESSION: "none", BACKUP_REFUSE_IF_NO_FIT: "false" });
                sb.volume("db", { "big.bin": Buffer.alloc(1024 * 1024, 1) });
                const r = runScript("backup.sh", env);
                assert.equal(r.status, 1, r.stderr);
                assert.match(
                    r.stderr,
                    // An uncompressed archive is written by cat (the reader, tar, may die of SIGPIPE first or not).
                    /^backup\.sh: error: volume db: archiving failed: cat: write error: No space left on device \[failed: write:1( tar:141)?\] \(free space in .*: 0 B\)$/m,
                );
                assert.deepEqual(
                    fs.readdirSync(small).filter((n) => n !== ".pds.lock"),
                    [],
                );
            } finally {
                spawnSync("umount", [small]);
            }
        });
        it("the volume would not fit: refused before writing anything", function () {
            const small = path.join(sb.root, "small2");
            fs.mkdirSync(small);
            const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", small]);
            if (m.status !== 0) missingCapability(this, `mount a tmpfs (needs root with CAP_SYS_ADMIN): ${m.stderr}`);
            try {
                sb.volume("db", { "big.bin": Buffer.alloc(1024 * 1024, 1) });
                const r = runScript("backup.sh", sb.env({ BACKUP_TARGET_DIR: small, BACKUP_COMPRESSION: "none" }));
                assert.equal(r.status, 1, r.stderr);
                assert.match(
                    r.stderr,
                    /^backup\.sh: error: volume db: needs up to 1\.0 MiB but the target has .* free; refused instead of filling the disk/m,
                );
                assert.deepEqual(
                    fs.readdirSync(small).filter((n) => n !== ".pds.lock"),
                    [],
                );
            } finally {
                spawnSync("umount", [small]);
            }
        });
    });
});
