// list.sh: one line per archive of the prefix: name, bytes, age, status.
import { strict as assert } from "assert";
import * as fs from "fs";
import { Sandbox, stamp } from "./helpers";

describe("list.sh", () => {
    let sb: Sandbox;
    afterEach(() => sb.cleanup());

    it("lists name, size in bytes, age and verified status", () => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha" });
        sb.volume("web", { "i.html": "x" });
        const now = Date.UTC(2024, 5, 1, 12, 0, 0);
        const at = (secondsAgo: number): string => stamp(new Date(now - secondsAgo * 1000));
        sb.backup({ BACKUP_TIMESTAMP: at(3 * 86400 + 5), BACKUP_VOLUMES: "db" });
        sb.backup({ BACKUP_TIMESTAMP: at(3 * 3600 + 120), BACKUP_COMPRESSION: "zstd" });
        sb.backup({ BACKUP_TIMESTAMP: at(42), BACKUP_VOLUMES: "web", BACKUP_COMPRESSION: "none" });
        fs.rmSync(sb.file(`prod-web-${at(42)}.tar.sha256`));
        fs.writeFileSync(sb.file(`staging-db-${at(42)}.tar.gz`), "other prefix");

        const r = sb.run("list.sh", { BACKUP_TIMESTAMP: stamp(new Date(now)) });
        assert.equal(r.status, 0, r.stderr);
        const size = (n: string): number => fs.statSync(sb.file(n)).size;
        const expected = [
            [`prod-db-${at(3 * 86400 + 5)}.tar.gz`, "3d", "verified"],
            [`prod-db-${at(3 * 3600 + 120)}.tar.zst`, "3h", "verified"],
            [`prod-web-${at(3 * 3600 + 120)}.tar.zst`, "3h", "verified"],
            [`prod-web-${at(42)}.tar`, "42s", "unverified"],
        ].map(([n, age, status]) => `${n}\t${size(n)}\t${age}\t${status}\n`);
        assert.equal(r.stdout, expected.join(""));
    });

    it("prints nothing when there are no archives", () => {
        sb = new Sandbox("prod");
        const r = sb.run("list.sh");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "");
    });
});
