// verify.sh: checksum + full test read, OK/CORRUPT lines, exit status.
import { strict as assert } from "assert";
import * as fs from "fs";
import { flipByte, Sandbox, sha256File, T } from "./helpers";

describe("verify.sh", () => {
    let sb: Sandbox;
    const names = [`prod-db-${T(0)}.tar.gz`, `prod-db-${T(1)}.tar.zst`, `prod-db-${T(2)}.tar`];
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha".repeat(1000), "b/c.txt": "gamma".repeat(1000) });
        sb.backup({ BACKUP_TIMESTAMP: T(0), BACKUP_COMPRESSION: "gzip" });
        sb.backup({ BACKUP_TIMESTAMP: T(1), BACKUP_COMPRESSION: "zstd" });
        sb.backup({ BACKUP_TIMESTAMP: T(2), BACKUP_COMPRESSION: "none" });
    });
    afterEach(() => sb.cleanup());

    it("checks every archive of the prefix and prints OK for each", () => {
        const other = new Sandbox("staging");
        other.volume("db", { "x.txt": "x" });
        assert.equal(other.run("backup.sh", { BACKUP_TARGET_DIR: sb.target, BACKUP_TIMESTAMP: T(0) }).status, 0);
        other.cleanup();
        flipByte(sb.file(`staging-db-${T(0)}.tar.gz`)); // not ours: not checked
        const r = sb.run("verify.sh");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, names.map((n) => `OK ${n}\n`).join(""));
    });

    it("detects a flipped byte", () => {
        flipByte(sb.file(names[1]));
        const r = sb.run("verify.sh");
        assert.equal(r.status, 1);
        assert.match(r.stdout, new RegExp(`^OK ${names[0]}$`, "m"));
        assert.match(r.stdout, new RegExp(`^CORRUPT ${names[1]}: checksum mismatch \\(expected [0-9a-f]{64}, got [0-9a-f]{64}\\)$`, "m"));
        assert.match(r.stdout, new RegExp(`^OK ${names[2]}$`, "m"));
        assert.match(r.stderr, /^verify\.sh: error: 1 of 3 archive\(s\) failed verification$/m);
    });

    it("detects a missing checksum file", () => {
        fs.rmSync(sb.file(`${names[0]}.sha256`));
        const r = sb.run("verify.sh");
        assert.equal(r.status, 1);
        assert.match(r.stdout, new RegExp(`^CORRUPT ${names[0]}: missing checksum file ${names[0]}\\.sha256$`, "m"));
    });

    it("detects damage that the checksum file was updated to match (full test read)", () => {
        const file = sb.file(names[0]);
        const buf = fs.readFileSync(file);
        fs.writeFileSync(file, buf.subarray(0, buf.length - 40)); // cut the gzip trailer
        fs.writeFileSync(`${file}.sha256`, `${sha256File(file)}  ${names[0]}\n`);
        const r = sb.run("verify.sh", {}, [names[0]]);
        assert.equal(r.status, 1);
        assert.match(r.stdout, new RegExp(`^CORRUPT ${names[0]}: test read failed: .+\\[failed: `, "m"));
    });

    it("verifies the archives named on the command line, by name or relative path", () => {
        const r = sb.run("verify.sh", { BACKUP_PREFIX: "" }, [names[2], `./${names[0]}`]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `OK ${names[2]}\nOK ./${names[0]}\n`);

        const missing = sb.run("verify.sh", {}, [names[0], "prod-db-20200101T000000Z.tar.gz"]);
        assert.equal(missing.status, 1);
        assert.match(missing.stdout, /^CORRUPT prod-db-20200101T000000Z\.tar\.gz: archive not found$/m);
    });

    it("succeeds when the prefix has no archives yet", () => {
        const r = sb.run("verify.sh", { BACKUP_PREFIX: "nothing-here" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "");
    });
});
