// What only the real engine can answer: the VolumeGuard dynamic provider runs
// in `pulumi preview`, and an unchanged stack previews clean.
import * as assert from "node:assert/strict";
import { docker, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { engineSuite, idleContainer } from "../helpers/engine";

describe("the real engine: guarded volumes and clean previews", function () {
    const { newStack } = engineSuite();

    before(async function () {
        await requireDocker(this);
    });

    it("a change to a retained volume's driverOpts fails preview and up with the VolumeGuard message, and touches nothing", async () => {
        const s = newStack("guard");
        const args = (size: string) => ({
            volumes: { data: { driverOpts: { type: "tmpfs", device: "tmpfs", o: `size=${size}` } } },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
        });
        await s.up(args("8m"));
        await s.exec("app", "echo kept > /data/file");
        const id = (await docker(["inspect", "-f", "{{.Id}}", s.name("app")])).stdout.trim();

        const refusal = /volumes\.data: changing the driver, driverOpts or labels of volume "pdse2e-guard-[0-9a-f]+-data" would replace it/;
        await assert.rejects(s.preview(args("16m")), refusal);
        await assert.rejects(s.up(args("16m")), refusal);

        const opts = (await docker(["volume", "inspect", "-f", "{{json .Options}}", s.name("data")])).stdout;
        assert.match(opts, /size=8m/, "the volume was not replaced");
        assert.equal((await docker(["inspect", "-f", "{{.Id}}", s.name("app")])).stdout.trim(), id, "nor the container");
        assert.equal((await s.exec("app", "cat /data/file")).stdout, "kept\n");
    });

    it("an unchanged stack with backups, a usage probe, a final backup and a pre-deploy gate previews with no changes", async () => {
        const s = newStack("clean");
        const args = {
            volumes: { data: {}, backups: {} },
            containers: { app: idleContainer({ env: { A: "1" }, mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
            backup: {
                volumes: ["data"],
                targetVolume: "backups",
                image: TEST_IMAGE,
                pull: false,
                schedule: "15 3 * * *",
                onDestroy: true,
                diskUsage: { maxPercent: 99 },
            },
        };
        await s.up(args);
        const changes = await s.preview(args, { expectNoChanges: true });
        assert.deepEqual(
            Object.keys(changes).filter((op) => op !== "same"),
            [],
            `preview of an unchanged stack: ${JSON.stringify(changes)}`,
        );
        const again = await s.up(args);
        assert.deepEqual([again.created, again.updated, again.replaced, again.deleted], [[], [], [], []]);
    });
});
