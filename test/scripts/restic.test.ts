// The restic engine's job scripts (restic-*.sh) under busybox sh, against a
// local repository: idempotent init, round-trip fidelity, deduplication,
// wrong password, damage detection, retention, restore safety, listing, and
// that the password never shows up anywhere; lock waits.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { buildFidelityTree, flipByte, inode, treeDigest } from "./helpers";
import { capturedOutputs, dirDigest, duBytes, largestFile, PASSWORD, RESTIC, ResticSandbox, resticTrace, volumeOf } from "./resticHelpers";

const shortIdLine = (volume: string) => new RegExp(`^created snapshot [0-9a-f]{8} of ${volume}$`, "m");

describe("restic engine scripts", function () {
    this.timeout(60_000);
    const sandboxes: ResticSandbox[] = [];
    const sandbox = (prefix = "prod", opts: { fresh?: boolean } = {}): ResticSandbox => {
        const sb = new ResticSandbox(prefix, opts);
        sandboxes.push(sb);
        return sb;
    };
    after(() => {
        for (const sb of sandboxes) sb.cleanup();
    });

    describe("restic-backup.sh", () => {
        it("initializes the repository on the first run only (idempotent init)", () => {
            const sb = sandbox("prod", { fresh: true });
            sb.volume("data", { "a.txt": "one" });
            assert.equal(fs.existsSync(sb.repo), false);

            const first = sb.backup();
            assert.match(first.stdout, new RegExp(`^initialized repository ${sb.repo}$`, "m"));
            assert.match(first.stdout, shortIdLine("data"));
            const config = fs.readFileSync(path.join(sb.repo, "config"));
            const keys = fs.readdirSync(path.join(sb.repo, "keys"));
            assert.equal(keys.length, 1);
            // One snapshot per volume in a new repository: retention has nothing to forget.
            assert.match(first.stderr, /retention: skipped \(the repository is new: one snapshot per volume\)/);

            const second = sb.backup();
            assert.doesNotMatch(second.stdout, /initialized/);
            assert.match(second.stderr, /repository .*: opened/);
            assert.doesNotMatch(second.stderr, /the repository is new/, "an existing repository gets its retention");
            assert.match(second.stdout, shortIdLine("data"));
            assert.deepEqual(fs.readFileSync(path.join(sb.repo, "config")), config);
            assert.deepEqual(fs.readdirSync(path.join(sb.repo, "keys")), keys);
            assert.equal(sb.snapshots().length, 2);
        });

        it("tags snapshots, goes on after a failing volume, names it and exits 1; skips empty volumes when asked", () => {
            const sb = sandbox();
            sb.volume("good", { f: "x" });
            sb.volume("empty");
            const r = sb.run("restic-backup.sh", { BACKUP_VOLUMES: "missing good empty", BACKUP_SKIP_EMPTY: "true" });
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, /volume missing: source directory .*missing does not exist/);
            assert.match(r.stderr, /^restic-backup\.sh: error: backup failed for volume\(s\): missing$/m);
            assert.match(r.stdout, shortIdLine("good"));
            assert.match(r.stdout, /^skipped empty \(empty\)$/m);
            // Host = prefix, tags stack=<prefix> and volume=<key>, the volume's absolute path.
            const snaps = sb.snapshots();
            assert.deepEqual(snaps.map(volumeOf), ["good"]);
            assert.equal(snaps[0].hostname, "prod");
            assert.deepEqual([...(snaps[0].tags ?? [])].sort(), ["stack=prod", "volume=good"]);
            assert.deepEqual(snaps[0].paths, [path.join(sb.sources, "good")]);

            // Without BACKUP_SKIP_EMPTY an empty volume gets a snapshot.
            const r2 = sb.backup({ BACKUP_VOLUMES: "empty" });
            assert.match(r2.stdout, shortIdLine("empty"));
        });

        it("fails clearly on a wrong password and changes nothing in the repository", () => {
            const sb = sandbox();
            sb.volume("data", { f: "x" });
            sb.backup();
            const before = dirDigest(sb.repo);
            const wrong = path.join(sb.root, "wrong-password");
            fs.writeFileSync(wrong, "not-the-password\n", { mode: 0o600 });
            const r = sb.run("restic-backup.sh", { RESTIC_PASSWORD_FILE: wrong, BACKUP_KEEP_LAST: "1" });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /^restic-backup\.sh: error: .*the password in .*wrong-password does not open the repository at /m);
            assert.equal(r.stdout, "");
            assert.equal(dirDigest(sb.repo), before);
            assert.equal(sb.snapshots().length, 1);
        });

        it("rejects bad configuration with exit 2 before touching anything", () => {
            const sb = sandbox();
            sb.volume("data", { f: "x" });
            const cases: [Record<string, string>, RegExp][] = [
                [{ RESTIC_REPOSITORY: "" }, /RESTIC_REPOSITORY is required/],
                [{ RESTIC_PASSWORD_FILE: path.join(sb.root, "nope") }, /password file .*nope does not exist/],
                [{ BACKUP_PREFIX: "bad prefix" }, /BACKUP_PREFIX 'bad prefix' is invalid/],
                [{ BACKUP_KEEP_DAILY: "x" }, /BACKUP_KEEP_DAILY must be a non-negative integer/],
                [{ BACKUP_SKIP_EMPTY: "yes" }, /BACKUP_SKIP_EMPTY must be true or false/],
            ];
            for (const [env, msg] of cases) {
                const r = sb.run("restic-backup.sh", env);
                assert.equal(r.status, 2, `${JSON.stringify(env)}: ${r.stderr}`);
                assert.match(r.stderr, msg);
            }
            const empty = path.join(sb.root, "empty-password");
            fs.writeFileSync(empty, "", { mode: 0o600 });
            const r = sb.run("restic-check.sh", { RESTIC_PASSWORD_FILE: empty });
            assert.equal(r.status, 2);
            assert.match(r.stderr, /password file .* is empty/);
            assert.equal(sb.snapshots().length, 0);
        });
    });

    describe("round trip", () => {
        it("restores exactly the backed-up tree into the volume root (owners, modes, links, empty dirs, odd names)", () => {
            const sb = sandbox();
            const src = path.join(sb.sources, "data");
            buildFidelityTree(src);
            const before = treeDigest(src);
            sb.backup();

            const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "data" });
            assert.equal(r.status, 0, r.stderr);
            assert.match(
                r.stdout,
                new RegExp(`^restored snapshot [0-9a-f]{8} of data \\(.*Z\\) into ${sb.restore}: \\d+ files, \\d+ entries, `),
            );
            const after = treeDigest(sb.restore);
            assert.deepEqual(after, before);
            // Spot checks that the digest covers what matters.
            assert.equal(after["."].uid, 999);
            assert.equal(after["."].mode, "750");
            assert.equal(after["secret.key"].uid, 1000);
            assert.equal(after["shared"].mode, "2775");
            assert.equal(after["scratch"].mode, "1777");
            assert.equal(after["link-dangling"].target, "does/not/exist");
            assert.ok(after["empty-dir/nested/deeper"]);
            assert.ok(after["line\nbreak"]);
            assert.equal(inode(path.join(sb.restore, "data/hard-a")), inode(path.join(sb.restore, "other/hard-b")));
            // Symlink owners too (restic lchowns them).
            assert.equal(fs.lstatSync(path.join(sb.restore, "link-rel")).uid, 1000);
            // Nothing of the staging directory is left.
            assert.deepEqual(
                fs.readdirSync(sb.restore).filter((n) => n.startsWith(".pds-restic-restore")),
                [],
            );
        });

        it("adds almost nothing when unchanged data is backed up again (deduplication)", function () {
            const sb = sandbox();
            const src = sb.volume("data");
            for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(src, `blob-${i}.bin`), crypto.randomBytes(1024 * 1024));
            buildFidelityTree(path.join(src, "tree"));
            const empty = duBytes(sb.repo);

            const t0 = Date.now();
            sb.backup({ BACKUP_VOLUMES: "data" });
            const firstMs = Date.now() - t0;
            const afterFirst = duBytes(sb.repo);

            const t1 = Date.now();
            sb.backup({ BACKUP_VOLUMES: "data" });
            const secondMs = Date.now() - t1;
            const afterSecond = duBytes(sb.repo);
            const added = afterSecond - afterFirst;

            console.log(
                `      first backup: ${afterFirst - empty} bytes added in ${firstMs} ms; ` +
                    `second (unchanged): ${added} bytes added (${((100 * added) / afterFirst).toFixed(3)}% of ${afterFirst}) in ${secondMs} ms`,
            );
            assert.ok(afterFirst - empty > 8 * 1024 * 1024, "the first backup stores the data");
            assert.ok(added < afterFirst / 100, `second backup added ${added} bytes (>= 1% of ${afterFirst})`);
            assert.equal(sb.snapshots().length, 2);
        });
    });

    describe("restic-check.sh", () => {
        it("says OK on a sound repository and CORRUPT (exit 1) once a pack file is damaged", () => {
            const sb = sandbox();
            sb.volume("data", { "random.bin": crypto.randomBytes(256 * 1024), small: "x" });
            sb.backup();

            const ok = sb.run("restic-check.sh", { BACKUP_CHECK_SUBSET: "100%" });
            assert.equal(ok.status, 0, ok.stderr);
            assert.equal(ok.stdout, `OK ${sb.repo}: no errors (structure, and 100% of the data read)\n`);

            // The largest pack holds the random file's data blobs.
            const pack = largestFile(path.join(sb.repo, "data"));
            flipByte(pack);

            const bad = sb.run("restic-check.sh", { BACKUP_CHECK_SUBSET: "100%" });
            assert.equal(bad.status, 1, bad.stderr);
            assert.match(bad.stdout, new RegExp(`^CORRUPT ${sb.repo}: .+\\n$`));
            assert.equal(bad.stdout.split("\n").filter(Boolean).length, 1);
            assert.match(bad.stderr, /is damaged/);

            // A structure-only check does not read data packs: that is what the subset is for.
            const structure = sb.run("restic-check.sh", { BACKUP_CHECK_SUBSET: "0" });
            assert.equal(structure.status, 0, structure.stderr);
            assert.match(structure.stdout, /^OK .*structure only/);
        });

        it("rejects a malformed subset with exit 2", () => {
            const sb = sandbox();
            for (const subset of ["five", "150%", "3/2", "0/4", "-1%"]) {
                const r = sb.run("restic-check.sh", { BACKUP_CHECK_SUBSET: subset });
                assert.equal(r.status, 2, `${subset}: ${r.stderr}`);
                assert.match(r.stderr, /BACKUP_CHECK_SUBSET/);
            }
        });
    });

    describe("retention (restic-forget.sh)", () => {
        // Volume a: five snapshots over three days; volume b: two; another
        // prefix's volume a: one. Times are UTC.
        const aTimes = ["20240301T100000Z", "20240301T180000Z", "20240302T100000Z", "20240303T090000Z", "20240303T210000Z"];
        const bTimes = new Set(["20240301T100000Z", "20240303T090000Z"]);
        let sb: ResticSandbox;
        const iso = (ts: string) => ts.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z");
        /** Snapshot times per "prefix/volume", oldest first: one `restic snapshots` for all. */
        const timesByVolume = (): Record<string, string[]> => {
            const out: Record<string, string[]> = {};
            for (const s of sb.snapshots()) {
                const prefix = s.tags?.find((t) => t.startsWith("stack="))?.slice("stack=".length);
                (out[`${prefix}/${volumeOf(s)}`] ??= []).push(new Date(s.time).toISOString().replace(/\.000Z$/, "Z"));
            }
            return out;
        };

        before(() => {
            sb = sandbox("prod");
            sb.volume("a", { f: "a" });
            sb.volume("b", { f: "b" });
            // The first run through the script (BACKUP_TIMESTAMP -> restic backup --time) ...
            const r = sb.backup({ BACKUP_TIMESTAMP: aTimes[0], BACKUP_VOLUMES: "a b" });
            assert.match(r.stderr, /forget skipped, every snapshot is kept/);
            // ... the rest with restic directly (faster), tagged the same way.
            const snap = (prefix: string, volume: string, ts: string): void => {
                const tags = ["--tag", `stack=${prefix}`, "--tag", `volume=${volume}`];
                const time = iso(ts).replace("T", " ").replace("Z", "");
                const d = sb.restic(["backup", "-q", "--host", prefix, ...tags, "--time", time, path.join(sb.sources, volume)]);
                assert.equal(d.status, 0, d.stderr);
            };
            for (const ts of aTimes.slice(1)) {
                snap("prod", "a", ts);
                if (bTimes.has(ts)) snap("prod", "b", ts);
            }
            snap("other", "a", "20240301T120000Z");
            assert.deepEqual(timesByVolume(), {
                "prod/a": aTimes.map(iso),
                "prod/b": [...bTimes].map(iso),
                "other/a": ["2024-03-01T12:00:00Z"],
            });
        });

        it("lists this prefix's snapshots per volume, oldest first", () => {
            const r = sb.run("restic-list.sh", { BACKUP_TIMESTAMP: "20240304T210000Z" });
            assert.equal(r.status, 0, r.stderr);
            const rows = r.stdout
                .trimEnd()
                .split("\n")
                .map((l) => l.split("\t"));
            assert.deepEqual(
                rows.map((c) => [c[1], c[2], c[3], c[4]]),
                [
                    ["a", "2024-03-01T10:00:00Z", "3d", "-"],
                    ["a", "2024-03-01T18:00:00Z", "3d", "-"],
                    ["a", "2024-03-02T10:00:00Z", "2d", "-"],
                    ["a", "2024-03-03T09:00:00Z", "1d", "-"],
                    ["a", "2024-03-03T21:00:00Z", "1d", "-"],
                    ["b", "2024-03-01T10:00:00Z", "3d", "-"],
                    ["b", "2024-03-03T09:00:00Z", "1d", "-"],
                ],
            );
            for (const c of rows) assert.match(c[0], /^[0-9a-f]{8}$/);

            const sized = sb.run("restic-list.sh", { BACKUP_VOLUMES: "b", BACKUP_LIST_SIZES: "true" });
            assert.equal(sized.status, 0, sized.stderr);
            assert.deepEqual(
                sized.stdout
                    .trimEnd()
                    .split("\n")
                    .map((l) => l.split("\t")[4]),
                ["1", "1"],
            );
        });

        it("skips forget with a log line when every keep rule is 0", () => {
            const r = sb.run("restic-forget.sh", { BACKUP_KEEP_LAST: "0" });
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stderr, /all 0; forget skipped/);
            assert.equal(timesByVolume()["prod/a"].length, 5);
        });

        it("keep-daily 2 keeps the newest snapshot of each of the last two days, per volume", () => {
            const r = sb.run("restic-forget.sh", { BACKUP_KEEP_DAILY: "2", BACKUP_VOLUMES: "a b" });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(timesByVolume(), {
                "prod/a": ["2024-03-02T10:00:00Z", "2024-03-03T21:00:00Z"],
                "prod/b": ["2024-03-01T10:00:00Z", "2024-03-03T09:00:00Z"],
                "other/a": ["2024-03-01T12:00:00Z"],
            });
            const forgot = r.stdout.trimEnd().split("\n").sort();
            assert.equal(forgot.length, 3, r.stdout);
            for (const line of forgot) assert.match(line, /^forgot snapshot [0-9a-f]{8} of a \(2024-03-0[13]T/);
        });

        it("keep-last 1 keeps only the newest snapshot of each volume, and no other prefix's", () => {
            const r = sb.run("restic-forget.sh", { BACKUP_KEEP_LAST: "1" });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(timesByVolume(), {
                "prod/a": ["2024-03-03T21:00:00Z"],
                "prod/b": ["2024-03-03T09:00:00Z"],
                "other/a": ["2024-03-01T12:00:00Z"],
            });
            assert.match(r.stderr, /retention: volume a keeps 1 snapshot/);
            assert.match(r.stderr, /pruned: /);
        });
    });

    describe("restic-restore.sh", () => {
        let sb: ResticSandbox;
        let first: string;
        let second: string;
        before(() => {
            sb = sandbox();
            sb.volume("db", { "gen.txt": "generation 1", "conf/a.conf": "a=1" });
            first = /created snapshot ([0-9a-f]{8}) of db/.exec(sb.backup().stdout)![1];
            sb.volume("db", { "gen.txt": "generation 2" });
            second = /created snapshot ([0-9a-f]{8}) of db/.exec(sb.backup().stdout)![1];
        });
        beforeEach(() => {
            fs.rmSync(sb.restore, { recursive: true, force: true });
            fs.mkdirSync(sb.restore);
        });
        const read = (rel: string): string => fs.readFileSync(path.join(sb.restore, rel), "utf8");
        const occupy = (): Record<string, unknown> => {
            fs.writeFileSync(path.join(sb.restore, ".hidden"), "existing data");
            fs.mkdirSync(path.join(sb.restore, "old/deep"), { recursive: true });
            fs.writeFileSync(path.join(sb.restore, "old/deep/file"), "old");
            fs.symlinkSync("old", path.join(sb.restore, "old-link"));
            return treeDigest(sb.restore);
        };

        it("restores the newest snapshot of the volume for latest, and a given id", () => {
            const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db" });
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stdout, new RegExp(`^restored snapshot ${second} of db `));
            assert.equal(read("gen.txt"), "generation 2");

            const r2 = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db", RESTORE_FROM: first, RESTORE_FORCE: "true" });
            assert.equal(r2.status, 0, r2.stderr);
            assert.equal(read("gen.txt"), "generation 1");
        });

        it("refuses a non-empty target (even only a dotfile) with exit 4 and leaves it untouched", () => {
            fs.writeFileSync(path.join(sb.restore, ".only-a-dotfile"), "precious");
            const before = treeDigest(sb.restore);
            const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db" });
            assert.equal(r.status, 4);
            assert.match(r.stderr, /^restic-restore\.sh: error: volume db: restore target .* is not empty; .*set force: true/m);
            assert.deepEqual(treeDigest(sb.restore), before);
        });

        it("with force, replaces the contents and keeps the mount point itself", () => {
            occupy();
            const mount = inode(sb.restore);
            const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db", RESTORE_FORCE: "true" });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(inode(sb.restore), mount);
            assert.deepEqual(treeDigest(sb.restore), treeDigest(path.join(sb.sources, "db")));
        });

        it("a missing snapshot, an unknown volume or a wrong password fail with exit 1 and leave the target untouched", () => {
            const before = occupy();
            const wrong = path.join(sb.root, "wrong-password");
            fs.writeFileSync(wrong, "nope\n", { mode: 0o600 });
            const cases: [Record<string, string>, RegExp][] = [
                [{ RESTORE_FROM: "deadbeef" }, /snapshot deadbeef not found in repository .*; target left untouched/],
                [{ RESTORE_VOLUME: "nosuch" }, /no snapshot of volume nosuch with prefix prod .*; target left untouched/],
                [{ RESTIC_PASSWORD_FILE: wrong }, /does not open the repository .*; target left untouched/],
            ];
            for (const [env, msg] of cases) {
                const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db", RESTORE_FORCE: "true", ...env });
                assert.equal(r.status, 1, `${JSON.stringify(env)}: ${r.stderr}`);
                assert.match(r.stderr, msg);
                assert.deepEqual(treeDigest(sb.restore), before);
            }
            const r = sb.run("restic-restore.sh", { RESTORE_VOLUME: "db", RESTORE_FROM: "not-an-id" });
            assert.equal(r.status, 2);
        });
    });

    describe("repository locks", () => {
        it("retries while another restic holds a conflicting lock, then gives up with exit 3 or goes on", () => {
            const sb = sandbox();
            sb.volume("data", { f: "x" });
            // `restic backup --stdin` holds a (shared) lock until its stdin
            // closes: here after 4 s. check needs an exclusive lock.
            const holder = spawn("sh", ["-c", `sleep 4 | "$0" backup -q --stdin --stdin-filename held --host holder`, RESTIC], {
                env: { RESTIC_REPOSITORY: sb.repo, RESTIC_PASSWORD_FILE: sb.passwordFile, RESTIC_CACHE_DIR: sb.cache },
                stdio: "ignore",
                detached: true,
            });
            try {
                const locks = path.join(sb.repo, "locks");
                const deadline = Date.now() + 20_000;
                while (fs.readdirSync(locks).length === 0) {
                    if (Date.now() > deadline) throw new Error("the holder took no lock");
                    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
                }
                const gaveUp = sb.run("restic-check.sh", { BACKUP_LOCK_TIMEOUT: "0", BACKUP_CHECK_SUBSET: "0" });
                assert.equal(gaveUp.status, 3, gaveUp.stderr);
                assert.match(
                    gaveUp.stderr,
                    /^restic-check\.sh: error: timed out after 0s waiting for the lock on repository .*: repository is already locked/m,
                );
                assert.equal(gaveUp.stdout, "");

                const waited = sb.run("restic-check.sh", { BACKUP_LOCK_TIMEOUT: "30", BACKUP_CHECK_SUBSET: "0" });
                assert.equal(waited.status, 0, waited.stderr);
                assert.match(waited.stderr, /waiting up to 30s: repository is already locked/);
                assert.match(waited.stdout, /^OK /);
            } finally {
                // The whole pipeline (sh, sleep, restic) is its own process group.
                try {
                    if (holder.pid !== undefined) process.kill(-holder.pid, "SIGTERM");
                } catch {
                    // already gone
                }
            }
        });
    });

    describe("the password", () => {
        it("never appears in any output, restic argument or restic environment", () => {
            assert.ok(capturedOutputs.length > 40, `only ${capturedOutputs.length} outputs captured`);
            const leaks = capturedOutputs.filter((o) => o.includes(PASSWORD));
            assert.deepEqual(leaks, []);
            const trace = resticTrace();
            assert.match(trace, /--- argv\nbackup\n/);
            assert.match(trace, /RESTIC_PASSWORD_FILE=/);
            assert.ok(!trace.includes(PASSWORD), "the password is in a restic argv or environment");
            assert.doesNotMatch(trace, /^RESTIC_PASSWORD=/m);
        });
    });
});
