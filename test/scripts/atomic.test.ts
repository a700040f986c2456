// A backup killed with SIGKILL mid-write must never leave a file under a final
// archive name, must not harm earlier archives, and the next run cleans up.
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { escapeRe, finished, Sandbox, sha256File, startScript, T, waitFor } from "./helpers";

describe("backup.sh atomicity", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "small.txt": "first generation" });
    });
    afterEach(() => sb.cleanup());

    it("a kill -9 mid-run leaves only a hidden partial file, which the next run removes", async () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        const earlier = `prod-db-${T(0)}.tar.gz`;
        const earlierSha = sha256File(sb.file(earlier));

        // Random data does not compress: gzip needs a few seconds for 50 MB.
        sb.volume("db", { "random.bin": crypto.randomBytes(50 * 1024 * 1024) });
        const child = startScript("backup.sh", sb.env({ BACKUP_TIMESTAMP: T(1), BACKUP_KEEP_LAST: "0" }));
        const done = finished(child);
        const partial = (): string | undefined => sb.targetFiles().find((n) => /^\..*\.partial-\d+$/.test(n));
        await waitFor(() => {
            const p = partial();
            return p !== undefined && fs.statSync(sb.file(p)).size > 0;
        }, "the partial archive to grow");
        // Kill the whole job (sh, tar, gzip, tee, sha256sum), like `docker kill`.
        process.kill(-child.pid!, "SIGKILL");
        const r = await done;
        assert.equal(r.signal, "SIGKILL");

        const left = sb.targetFiles();
        const stale = partial();
        assert.ok(stale, `a partial file is left: ${left.join(", ")}`);
        assert.ok(stale.startsWith(`.prod-db-${T(1)}.tar.gz.partial-`));
        assert.deepEqual(
            left.filter((n) => !n.startsWith(".")),
            [earlier, `${earlier}.manifest.json`, `${earlier}.sha256`],
            "no final-named file for the killed run",
        );
        assert.equal(sha256File(sb.file(earlier)), earlierSha);
        assert.equal(sb.run("verify.sh", {}, [earlier]).status, 0);

        // An orphan sidecar, as left by a run killed between the final renames.
        fs.writeFileSync(sb.file(`prod-db-${T(2)}.tar.gz.sha256`), "0".repeat(64) + `  prod-db-${T(2)}.tar.gz\n`);
        fs.writeFileSync(sb.file(`prod-db-${T(2)}.tar.gz.manifest.json`), "{}\n");

        fs.rmSync(path.join(sb.sources, "db/random.bin"));
        const next = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(3), BACKUP_KEEP_LAST: "0" });
        assert.equal(next.status, 0, next.stderr);
        assert.match(next.stderr, new RegExp(`removing stale partial file ${escapeRe(stale)} `));
        assert.match(next.stderr, /removing orphan sidecar prod-db-\d{8}T\d{6}Z\.tar\.gz\.sha256/);
        assert.deepEqual(sb.targetFiles(), [
            earlier,
            `${earlier}.manifest.json`,
            `${earlier}.sha256`,
            `prod-db-${T(3)}.tar.gz`,
            `prod-db-${T(3)}.tar.gz.manifest.json`,
            `prod-db-${T(3)}.tar.gz.sha256`,
        ]);
    });
});
