// Diff rules of the docker provider stand-in (test/provider/rules.ts): the
// decisions the real docker provider makes, checked without an engine.
import * as assert from "node:assert/strict";
import { CONTAINER, decideDiff, DEFAULTS_KEY, NETWORK, outputsAfterUpdate, REMOTE_IMAGE, typeOfUrn, VOLUME } from "../provider/rules";

const app = {
    name: "app",
    image: "sha256:1",
    command: ["sleep", "3600"],
    envs: ["A=1", "B=2"],
    labels: [
        { label: "x", value: "1" },
        { label: "y", value: "2" },
    ],
    [DEFAULTS_KEY]: [],
};

describe("docker stand-in diff rules", () => {
    it("reads the type of a URN, also under a parent", () => {
        assert.equal(typeOfUrn("urn:pulumi:dev::p::pds:index:PersistentStack$docker:index/volume:Volume::v"), VOLUME);
        assert.equal(typeOfUrn("urn:pulumi:dev::p::docker:index/container:Container::c"), CONTAINER);
    });

    it("treats zero values, schema defaults, dropped computed fields and set order as no change", () => {
        const olds = { ...app, exitCode: 0, restart: "no", mustRun: true };
        const news = {
            ...app,
            envs: ["B=2", "A=1"],
            labels: [...app.labels].reverse(),
            privileged: false,
            ports: [],
            logDriver: "json-file",
        };
        assert.deepEqual(decideDiff(CONTAINER, olds, news), { changes: false, replaces: [], deleteBeforeReplace: false });
        const withoutCommand: Record<string, unknown> = { ...app };
        delete withoutCommand.command;
        assert.equal(decideDiff(CONTAINER, olds, withoutCommand).changes, false, "command is Optional+Computed");
    });

    it("updates restart policy, memory and CPU in place, and replaces (delete first) on anything else", () => {
        assert.deepEqual(decideDiff(CONTAINER, app, { ...app, restart: "always", memory: 64 }), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepEqual(decideDiff(CONTAINER, app, { ...app, envs: ["A=1"] }), {
            changes: true,
            replaces: ["envs"],
            deleteBeforeReplace: true,
        });
        assert.deepEqual(decideDiff(CONTAINER, app, { ...app, image: "sha256:2", mustRun: false }).replaces, ["image"]);
    });

    it("replaces volumes and networks on every change, deleting first only when the name was given", () => {
        const vol = { name: "data", labels: [{ label: "a", value: "1" }] };
        assert.deepEqual(decideDiff(VOLUME, { ...vol, mountpoint: "/x" }, { ...vol, [DEFAULTS_KEY]: [] }).changes, false);
        assert.deepEqual(decideDiff(VOLUME, vol, { ...vol, driverOpts: { o: "bind" }, [DEFAULTS_KEY]: [] }), {
            changes: true,
            replaces: ["driverOpts"],
            deleteBeforeReplace: true,
        });
        assert.equal(decideDiff(VOLUME, vol, { ...vol, labels: [], [DEFAULTS_KEY]: ["name"] }).deleteBeforeReplace, false);
        assert.deepEqual(decideDiff(NETWORK, { name: "n" }, { name: "n", internal: true, [DEFAULTS_KEY]: [] }).replaces, ["internal"]);
    });

    it("changes a RemoteImage's keepLocally in state only", () => {
        const img = { name: "busybox", keepLocally: true };
        assert.deepEqual(decideDiff(REMOTE_IMAGE, { ...img, imageId: "sha256:1" }, { ...img, keepLocally: false }).replaces, []);
        assert.deepEqual(decideDiff(REMOTE_IMAGE, img, { ...img, name: "other" }).replaces, ["name"]);
    });

    it("keeps computed and output-only values across an update, and drops removed inputs", () => {
        const olds = { ...app, memory: 64, exitCode: 3, hostname: "h" };
        const news = { ...app, hostname: undefined, restart: "always" };
        const outs = outputsAfterUpdate(CONTAINER, olds, news);
        assert.equal(outs.memory, undefined);
        assert.equal(outs.exitCode, 3);
        assert.equal(outs.hostname, "h");
        assert.equal(outs[DEFAULTS_KEY], undefined);
        assert.equal(decideDiff(CONTAINER, outs, news).changes, false);
    });
});
