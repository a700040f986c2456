// The two data-loss paths of the adversarial review, on a real Docker daemon:
// a restore into the backup target volume (it would replace every backup with
// one archive's contents) and keepDays beyond shell arithmetic (1e15 days
// overflows `$((days * 86400))` and prune would delete all but the newest
// archive). Both are refused by `pulumi up` before anything is created, and a
// stack that already holds backups keeps every archive.
import * as assert from "node:assert/strict";
import { docker, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { backedUpStack as stackArgs, EngineStack, engineSuite } from "../helpers/engine";

/** Everything on the daemon that carries the stack's label. */
async function owned(s: EngineStack): Promise<{ volumes: string[]; containers: string[] }> {
    const list = async (args: string[]) => (await docker(args)).stdout.split("\n").filter(Boolean).sort();
    return {
        volumes: await list(["volume", "ls", "-q", "--filter", `label=${s.label}`]),
        containers: await list(["ps", "-a", "--format", "{{.Names}}", "--filter", `label=${s.label}`]),
    };
}

/** Archive names (with sidecars) on the target volume. */
async function archivesOf(s: EngineStack): Promise<string[]> {
    const out = await docker(["run", "--rm", "--network", "none", "-v", `${s.name("backups")}:/v:ro`, TEST_IMAGE, "ls", "/v"]);
    return out.stdout.split("\n").filter(Boolean).sort();
}

const restoreIntoTarget =
    /restores\[0\]\.volume: "backups" is the backup target \(backup\.targetVolume\): restoring into it would replace every backup/;
const keepDaysOverflow = /backup\.keepDays: must be an integer between 0 and 36500; 0 means no age limit/;

describe("refusals on a real Docker engine: the data-loss paths cannot be deployed", function () {
    const { newStack } = engineSuite();

    before(async function () {
        await requireDocker(this);
    });

    it("refuses a restore into the backup target volume, creating nothing", async () => {
        const s = newStack("refuse-restore-target");
        await assert.rejects(s.up(stackArgs({}, { restores: [{ volume: "backups", from: "latest", force: true }] })), restoreIntoTarget);
        assert.deepEqual(await owned(s), { volumes: [], containers: [] });
    });

    it("refuses keepDays 1e15, creating nothing", async () => {
        const s = newStack("refuse-keepdays");
        await assert.rejects(s.up(stackArgs({ keepDays: 1e15, keepLast: 0 })), keepDaysOverflow);
        assert.deepEqual(await owned(s), { volumes: [], containers: [] });
    });

    it("a stack holding backups keeps every archive when either change is attempted", async () => {
        const s = newStack("refuse-existing");
        await s.up(stackArgs({ keepLast: 0 }));
        await s.exec("app", "echo v1 > /data/file");
        for (const ts of ["20260101T030000Z", "20260102T030000Z", "20260103T030000Z"]) {
            await docker(["exec", "-e", `BACKUP_TIMESTAMP=${ts}`, s.name("backup"), "backup-now"]);
        }
        const before = await archivesOf(s);
        assert.equal(before.filter((f) => f.endsWith(".tar.gz")).length, 3);
        const objects = await owned(s);

        await assert.rejects(
            s.up(stackArgs({ keepLast: 0 }, { restores: [{ volume: "backups", from: "latest", force: true }] })),
            restoreIntoTarget,
        );
        await assert.rejects(s.up(stackArgs({ keepDays: 1e15, keepLast: 0 })), keepDaysOverflow);

        assert.deepEqual(await archivesOf(s), before, "every archive is still there");
        assert.deepEqual(await owned(s), objects, "nothing was created or removed");
    });
});
