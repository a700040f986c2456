// The VolumeGuard's dynamic provider, called the way the Pulumi engine calls it
// during a preview: its diff must throw (failing the preview) exactly when a
// retained volume would be replaced.
import * as assert from "assert";
import { volumeFingerprint } from "../../components";
import { VolumeGuard, VolumeGuardState, volumeGuardProvider } from "../../components/volumeGuard";
import { recordProgram } from "../helpers/pulumiMocks";

const guard = (
    volumeName: string,
    fields: Parameters<typeof volumeFingerprint>[0] = {},
    configPath = "volumes.pgdata",
): VolumeGuardState => ({
    volumeName,
    configPath,
    fingerprint: volumeFingerprint(fields),
});

const diff = (olds: VolumeGuardState, news: VolumeGuardState) => volumeGuardProvider.diff!("shop-prod-pgdata", olds, news);

describe("the VolumeGuard provider", () => {
    it("fails the diff when the driver, driverOpts or labels of the same volume change, naming it", async () => {
        const old = guard("shop-prod-pgdata");
        for (const changed of [
            guard("shop-prod-pgdata", { driver: "nfs" }),
            guard("shop-prod-pgdata", { driverOpts: { type: "tmpfs" } }),
            guard("shop-prod-pgdata", { labels: { tier: "db" } }),
        ]) {
            await assert.rejects(diff(old, changed), (e: Error) => {
                assert.match(
                    e.message,
                    /^volumes\.pgdata: changing the driver, driverOpts or labels of volume "shop-prod-pgdata" would replace it/,
                );
                assert.ok(e.message.includes(`now ${changed.fingerprint}`), e.message);
                return true;
            });
        }
    });

    it("fails the diff when only an option's or a label's value changes", async () => {
        const old = guard("shop-prod-pgdata", { driverOpts: { type: "tmpfs" }, labels: { tier: "db" } });
        await assert.rejects(
            diff(old, guard("shop-prod-pgdata", { driverOpts: { type: "none" }, labels: { tier: "db" } })),
            /would replace it/,
        );
        await assert.rejects(
            diff(old, guard("shop-prod-pgdata", { driverOpts: { type: "tmpfs" }, labels: { tier: "cache" } })),
            /would replace it/,
        );
    });

    it("explains the failure: what changed, why it matters, how to migrate and how to discard", async () => {
        const old = guard("shop-prod-pgdata");
        const changed = guard("shop-prod-pgdata", { driver: "nfs" });
        await assert.rejects(diff(old, changed), {
            message:
                'volumes.pgdata: changing the driver, driverOpts or labels of volume "shop-prod-pgdata" would replace it ' +
                `(Docker volumes are immutable) and orphan or lose its data; was ${old.fingerprint}, now ${changed.fingerprint}. ` +
                'To migrate: back up the volume, declare it under a new name, restore into it (README: "Changing a volume\'s driver or options"). ' +
                "To discard the data instead, set volumes.pgdata.retainOnDelete: false.",
        });
    });

    it("reports no change for identical settings", async () => {
        assert.deepStrictEqual(await diff(guard("shop-prod-pgdata"), guard("shop-prod-pgdata", { driver: "local" })), { changes: false });
    });

    it("reports a change, without failing, when only the config path moves", async () => {
        const moved = guard("shop-prod-pgdata", {}, "volumes.db");
        assert.deepStrictEqual(await diff(guard("shop-prod-pgdata"), moved), { changes: true });
    });

    it("reports a change, without failing, when the volume gets a new name (a new volume; the old one keeps its data)", async () => {
        assert.deepStrictEqual(await diff(guard("shop-prod-pgdata"), guard("shop-prod-pgdata-v2", { driver: "nfs" })), { changes: true });
    });

    it("creates with the volume name as id and updates to the new settings", async () => {
        const state = guard("shop-prod-pgdata");
        assert.deepStrictEqual(await volumeGuardProvider.create(state), { id: "shop-prod-pgdata", outs: state });
        const moved = guard("shop-prod-pgdata", {}, "volumes.db");
        assert.deepStrictEqual(await volumeGuardProvider.update!("shop-prod-pgdata", state, moved), { outs: moved });
    });

    it("registers each guard as a persistent-docker VolumeGuard resource carrying its state", async () => {
        const state = guard("shop-prod-pgdata");
        const rec = await recordProgram(() => void new VolumeGuard("shop-guard-pgdata", state));
        const [registered] = rec.resources;
        assert.strictEqual(registered.type, "pulumi-nodejs:dynamic/persistent-docker:VolumeGuard");
        assert.strictEqual(registered.name, "shop-guard-pgdata");
        assert.deepStrictEqual(
            [registered.inputs.volumeName, registered.inputs.configPath, registered.inputs.fingerprint],
            [state.volumeName, state.configPath, state.fingerprint],
        );
    });
});
