// Backup then restore must give back the same tree, for every compression:
// contents, modes, numeric owners, symlinks, hard links (one inode), empty
// dirs, awkward names, file mtimes, and the volume root's own owner and mode.
import { strict as assert } from "assert";
import * as path from "path";
import { buildFidelityTree, escapeRe, inode, Sandbox, T, treeDigest } from "./helpers";

describe("backup.sh + restore.sh round trip", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        buildFidelityTree(path.join(sb.sources, "data"));
    });
    afterEach(() => sb.cleanup());

    for (const [compression, ext] of [
        ["gzip", "tar.gz"],
        ["zstd", "tar.zst"],
        ["none", "tar"],
    ]) {
        it(`restores an identical tree (${compression})`, () => {
            const src = path.join(sb.sources, "data");
            const before = treeDigest(src);
            sb.backup({ BACKUP_COMPRESSION: compression, BACKUP_TIMESTAMP: T(0) });

            const r = sb.run("restore.sh", { RESTORE_VOLUME: "data" });
            assert.equal(r.status, 0, r.stderr);
            assert.match(
                r.stdout,
                new RegExp(`^restored ${escapeRe(`prod-data-${T(0)}.${ext}`)} into ${escapeRe(sb.restore)}: \\d+ files`, "m"),
            );

            const after = treeDigest(sb.restore);
            assert.deepEqual(after, before);
            // Spot checks that the digest really covers what matters.
            assert.equal(after["secret.key"].uid, 1000);
            assert.equal(after["shared"].mode, "2775");
            assert.equal(after["scratch"].mode, "1777");
            assert.equal(after["."].uid, 999);
            assert.equal(after["link-dangling"].target, "does/not/exist");
            assert.ok(after["line\nbreak"]);
            assert.ok(after["empty-dir/nested/deeper"]);
            assert.equal(inode(path.join(sb.restore, "data/hard-a")), inode(path.join(sb.restore, "other/hard-b")));
            assert.equal(inode(path.join(sb.restore, "data/hard-a")), inode(path.join(sb.restore, "data/hard c")));
        });
    }
});
