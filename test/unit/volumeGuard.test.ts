// The VolumeGuard's dynamic provider, called the way the Pulumi engine calls it
// during a preview: its diff must throw (failing the preview) exactly when a
// retained volume would be replaced.
import * as assert from "assert";
import { volumeFingerprint } from "../../components";
import { VolumeGuard, VolumeGuardState, volumeGuardProvider } from "../../components/volumeGuard";
import { recordProgram } from "../helpers/pulumiMocks";

/** A guard state with one volume (under config key `key`). */
const guard = (
    volumeName: string,
    fields: Parameters<typeof volumeFingerprint>[0] = {},
    configPath = "volumes.pgdata",
    key = configPath.split(".")[1],
): VolumeGuardState => ({
    volumes: { [key]: { volumeName, configPath, fingerprint: volumeFingerprint(fields) } },
});
const fp = (state: VolumeGuardState) => Object.values(state.volumes)[0].fingerprint;
const merge = (...states: VolumeGuardState[]): VolumeGuardState => ({ volumes: Object.assign({}, ...states.map((s) => s.volumes)) });

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
                assert.ok(e.message.includes(`now ${fp(changed)}`), e.message);
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
                `(Docker volumes are immutable) and orphan or lose its data; was ${fp(old)}, now ${fp(changed)}. ` +
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

    it("names every changed volume of the stack at once, matching volumes by Docker name whatever their config key", async () => {
        const olds = merge(
            guard("shop-prod-pgdata"),
            guard("shop-prod-uploads", {}, "volumes.uploads"),
            guard("shop-prod-logs", {}, "volumes.logs"),
        );
        const news = merge(
            guard("shop-prod-pgdata", { driver: "nfs" }, "volumes.db"), // moved to another key, and changed
            guard("shop-prod-uploads", { labels: { a: "b" } }, "volumes.uploads"),
            guard("shop-prod-logs", {}, "volumes.logs"),
            guard("shop-prod-new", { driver: "nfs" }, "volumes.fresh"), // new: nothing to compare with
        );
        await assert.rejects(diff(olds, news), (e: Error) => {
            const lines = e.message.split("\n");
            assert.strictEqual(lines.length, 2, e.message);
            assert.match(lines[0], /^volumes\.db: .*"shop-prod-pgdata" would replace it/);
            assert.match(lines[1], /^volumes\.uploads: .*"shop-prod-uploads" would replace it/);
            return true;
        });
        assert.deepStrictEqual(await diff(olds, merge(guard("shop-prod-pgdata"), guard("shop-prod-logs", {}, "volumes.logs"))), {
            changes: true,
        });
        assert.deepStrictEqual(
            await diff(olds, merge(guard("shop-prod-logs", {}, "volumes.logs"), olds)),
            { changes: false },
            "order does not matter",
        );
    });

    it("creates with a fixed id and updates to the new settings", async () => {
        const state = guard("shop-prod-pgdata");
        assert.deepStrictEqual(await volumeGuardProvider.create(state), { id: "volumes", outs: state });
        const moved = guard("shop-prod-pgdata", {}, "volumes.db");
        assert.deepStrictEqual(await volumeGuardProvider.update!("shop-prod-pgdata", state, moved), { outs: moved });
    });

    it("registers the guard as a persistent-docker VolumeGuard resource carrying its state", async () => {
        const state = guard("shop-prod-pgdata");
        const rec = await recordProgram(() => void new VolumeGuard("shop-guard", state));
        const [registered] = rec.resources;
        assert.strictEqual(registered.type, "pulumi-nodejs:dynamic/persistent-docker:VolumeGuard");
        assert.strictEqual(registered.name, "shop-guard");
        assert.deepStrictEqual(registered.inputs.volumes, state.volumes);
    });
});
