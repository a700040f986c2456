// prune.sh: keep-last / keep-days per volume, never the newest good archive,
// and nothing but this prefix's archives and their sidecars.
import { strict as assert } from "assert";
import * as fs from "fs";
import { flipByte, Sandbox, stamp, T } from "./helpers";

const NOW = new Date(Date.UTC(2024, 5, 1, 12, 0, 0));
const ago = (hours: number): string => stamp(new Date(NOW.getTime() - hours * 3600_000));

describe("prune.sh", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha" });
    });
    afterEach(() => sb.cleanup());

    const archive = (ts: string, volume = "db"): string => `prod-${volume}-${ts}.tar.gz`;
    const withSidecars = (name: string): string[] => [name, `${name}.manifest.json`, `${name}.sha256`];
    const archives = (): string[] => sb.targetFiles().filter((n) => /\.tar(\.gz|\.zst)?$/.test(n));
    const prune = (env: Record<string, string>) => {
        const r = sb.run("prune.sh", { BACKUP_TIMESTAMP: stamp(NOW), ...env });
        assert.equal(r.status, 0, r.stderr);
        return r;
    };

    it("keeps the newest BACKUP_KEEP_LAST archives and deletes the rest with their sidecars", () => {
        for (let i = 0; i < 5; i++) sb.backup({ BACKUP_TIMESTAMP: T(i) });
        const r = prune({ BACKUP_KEEP_LAST: "2" });
        assert.deepEqual(
            r.stdout.trim().split("\n"),
            [2, 1, 0].map((i) => `deleted ${archive(T(i))}`),
        );
        assert.deepEqual(sb.targetFiles(), [...withSidecars(archive(T(3))), ...withSidecars(archive(T(4)))]);
    });

    it("keeps archives younger than BACKUP_KEEP_DAYS, by the time in their name (not the mtime)", () => {
        const stamps = [ago(1), ago(25), ago(72), ago(240)];
        for (const ts of stamps) sb.backup({ BACKUP_TIMESTAMP: ts });
        // Fake the opposite ages on disk: the newest looks ancient, the oldest brand new.
        fs.utimesSync(sb.file(archive(stamps[0])), new Date("2000-01-01"), new Date("2000-01-01"));
        fs.utimesSync(sb.file(archive(stamps[3])), NOW, NOW);
        prune({ BACKUP_KEEP_LAST: "0", BACKUP_KEEP_DAYS: "2" });
        assert.deepEqual(archives(), [archive(stamps[0]), archive(stamps[1])].sort());
    });

    it("with both rules set, keeps an archive if EITHER rule keeps it", () => {
        const stamps = [ago(1), ago(25), ago(72), ago(120)];
        for (const ts of stamps) sb.backup({ BACKUP_TIMESTAMP: ts });
        prune({ BACKUP_KEEP_LAST: "1", BACKUP_KEEP_DAYS: "2" }); // days keep 2, last keeps 1
        assert.deepEqual(archives(), [archive(stamps[0]), archive(stamps[1])].sort());
        prune({ BACKUP_KEEP_LAST: "2", BACKUP_KEEP_DAYS: "1" }); // last keeps 2, days keep 1
        assert.deepEqual(archives(), [archive(stamps[0]), archive(stamps[1])].sort());
    });

    it("deletes nothing with both rules at 0 (unlimited)", () => {
        for (let i = 0; i < 3; i++) sb.backup({ BACKUP_TIMESTAMP: ago(24 * 365 * (i + 1)) });
        const before = sb.targetFiles();
        const r = prune({ BACKUP_KEEP_LAST: "0", BACKUP_KEEP_DAYS: "0" });
        assert.equal(r.stdout, "");
        assert.deepEqual(sb.targetFiles(), before);
    });

    it("never deletes the newest archive that verifies good, even when newer ones are corrupt", () => {
        for (let i = 0; i < 4; i++) sb.backup({ BACKUP_TIMESTAMP: T(i) });
        flipByte(sb.file(archive(T(3)))); // newest: corrupt
        fs.rmSync(sb.file(`${archive(T(2))}.sha256`)); // next: no checksum
        const r = prune({ BACKUP_KEEP_LAST: "1" });
        assert.match(r.stderr, new RegExp(`${archive(T(3))} does not verify \\(checksum mismatch`));
        assert.match(r.stderr, new RegExp(`${archive(T(2))} does not verify \\(missing checksum file`));
        assert.match(r.stderr, new RegExp(`keeping ${archive(T(1))} although the keep rules drop it`));
        assert.deepEqual(r.stdout.trim().split("\n"), [`deleted ${archive(T(2))}`, `deleted ${archive(T(0))}`]);
        assert.deepEqual(archives(), [archive(T(1)), archive(T(3))]);
    });

    it("keeps the newest good archive when every archive is older than BACKUP_KEEP_DAYS", () => {
        for (const ts of [ago(24 * 30), ago(24 * 20), ago(24 * 10)]) sb.backup({ BACKUP_TIMESTAMP: ts });
        prune({ BACKUP_KEEP_LAST: "0", BACKUP_KEEP_DAYS: "7" });
        assert.deepEqual(archives(), [archive(ago(24 * 10))]);
    });

    it("works per volume and touches nothing but this prefix's archives", () => {
        sb.volume("web", { "i.html": "x" });
        for (let i = 0; i < 3; i++) sb.backup({ BACKUP_TIMESTAMP: T(i) }); // prod-db, prod-web
        // Same target, other prefixes: "staging", "prodx", and "prod-db" whose
        // volume "data" gives names that also parse as prefix prod, volume db-data.
        for (const prefix of ["staging", "prodx", "prod-db"]) {
            const other = new Sandbox(prefix);
            other.volume(prefix === "prod-db" ? "data" : "db", { "x.txt": prefix });
            for (let i = 0; i < 3; i++) {
                const r = other.run("backup.sh", {
                    BACKUP_TARGET_DIR: sb.target,
                    BACKUP_TIMESTAMP: T(i),
                    BACKUP_KEEP_LAST: "0",
                });
                assert.equal(r.status, 0, r.stderr);
            }
            other.cleanup();
        }
        const unrelated = [
            "README.txt",
            "prod-db-notes.txt",
            `prod-db-${T(0)}.tar.gz.bak`,
            `prod-db-${T(0)}.tgz`,
            "prod-db-2024.tar.gz",
            `prod--${T(0)}.tar.gz`,
            `prod-db-${T(0)}x.tar.gz`,
            `Prod-db-${T(0)}.tar.gz`,
            "prod-db-20241399T250000Z.tar.gz", // timestamp shape, impossible values
        ];
        for (const n of unrelated) fs.writeFileSync(sb.file(n), "keep me");
        fs.mkdirSync(sb.file(`prod-db-${T(0)}.tar.gz.d`));
        const before = sb.targetFiles();

        const r = prune({ BACKUP_KEEP_LAST: "1" });
        const deleted = [archive(T(0)), archive(T(1)), archive(T(0), "web"), archive(T(1), "web")];
        assert.deepEqual(r.stdout.trim().split("\n").sort(), deleted.map((n) => `deleted ${n}`).sort());
        assert.deepEqual(
            sb.targetFiles(),
            before.filter((n) => !deleted.flatMap(withSidecars).includes(n)),
        );
        for (const n of unrelated) assert.equal(fs.readFileSync(sb.file(n), "utf8"), "keep me");
    });

    it("limits itself to BACKUP_VOLUMES when set", () => {
        sb.volume("web", { "i.html": "x" });
        for (let i = 0; i < 3; i++) sb.backup({ BACKUP_TIMESTAMP: T(i) });
        prune({ BACKUP_KEEP_LAST: "1", BACKUP_VOLUMES: "web" });
        assert.equal(archives().filter((n) => n.startsWith("prod-db-")).length, 3);
        assert.deepEqual(
            archives().filter((n) => n.startsWith("prod-web-")),
            [archive(T(2), "web")],
        );
    });
});
