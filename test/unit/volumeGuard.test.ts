// The VolumeGuard's dynamic provider, called the way the Pulumi engine calls it
// during a preview: its diff must throw (failing the preview) exactly when a
// retained volume would be replaced.
import * as assert from "assert";
import { volumeFingerprint } from "../../components";
import { VolumeGuardState, volumeGuardProvider } from "../../components/volumeGuard";

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
});
