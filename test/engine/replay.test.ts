// Tests of the replay harness itself (test/helpers/replay.ts) against the real
// Docker daemon, with hand-written recordings (no component involved).
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { RecordedResource } from "../helpers/pulumiMocks";
import {
    containerExists,
    docker,
    inspect,
    removeByLabel,
    requireDocker,
    runInVolume,
    TEST_IMAGE,
    treeDigest,
    volumeExists,
} from "../helpers/docker";
import { ReplayError, ReplayHarness } from "../helpers/replay";

const LABEL_KEY = "pds.test";
const LABEL_VALUE = "replay";
const LABELS = [{ label: LABEL_KEY, value: LABEL_VALUE }];
const RUN = `pdsreplay-${randomBytes(3).toString("hex")}`;

const VOLUME = "docker:index/volume:Volume";
const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const COMMAND = "command:local:Command";

let mockCounter = 0;

/** A hand-written RecordedResource, shaped like recordProgram() output. */
function res(
    type: string,
    name: string,
    inputs: Record<string, any>,
    options: Partial<RecordedResource["options"]> = {},
): RecordedResource {
    mockCounter += 1;
    return {
        type,
        name,
        urn: `urn:pulumi:test::replay::${type}::${name}`,
        id: `${name}-id-${mockCounter}`,
        custom: true,
        inputs,
        secretInputs: [],
        options: {
            retainOnDelete: false,
            protect: false,
            deleteBeforeReplace: false,
            dependsOn: [],
            ignoreChanges: [],
            replaceOnChanges: [],
            ...options,
        },
    };
}

function volume(name: string, extra: Record<string, any> = {}, options: Partial<RecordedResource["options"]> = {}) {
    return res(VOLUME, name, { name: `${RUN}-${name}`, labels: LABELS, ...extra }, options);
}

function container(name: string, extra: Record<string, any> = {}, options: Partial<RecordedResource["options"]> = {}): RecordedResource {
    return res(
        CONTAINER,
        name,
        { name: `${RUN}-${name}`, image: TEST_IMAGE, command: ["sleep", "600"], labels: LABELS, ...extra },
        options,
    );
}

function volumeMount(vol: RecordedResource, target: string) {
    return { type: "volume", source: vol.inputs.name, target };
}

async function containerState(id: string): Promise<any> {
    return (await inspect("container", id))?.State;
}

describe("replay harness (real Docker)", function () {
    const logs: string[] = [];
    const harnesses: ReplayHarness[] = [];
    let scratch = "";

    function harness(): ReplayHarness {
        const h = new ReplayHarness({ log: (l) => logs.push(l), volumeInUseTimeoutMs: 3000 });
        harnesses.push(h);
        return h;
    }

    before(async function () {
        await requireDocker(this);
        scratch = mkdtempSync(path.join(tmpdir(), "pdsreplay-"));
    });

    afterEach(function () {
        if (this.currentTest?.state === "failed") {
            console.log(`--- replay log (${logs.length} lines) ---\n${logs.slice(-80).join("\n")}`);
        }
        logs.length = 0;
    });

    after(async function () {
        const removed = await removeByLabel(`${LABEL_KEY}=${LABEL_VALUE}`);
        if (removed.failed.length > 0) {
            console.warn(`cleanup failures: ${removed.failed.join("; ")}`);
        }
        if (scratch) {
            rmSync(scratch, { recursive: true, force: true });
        }
    });

    it("creates a volume and a container that mounts it, with uploads", async function () {
        const h = harness();
        const vol = volume("t1-data");
        const app = container(
            "t1-app",
            {
                mounts: [volumeMount(vol, "/data")],
                envs: ["A=1"],
                uploads: [
                    { file: "/etc/app/run.sh", content: "#!/bin/sh\necho hi\n", executable: true },
                    { file: "/etc/app/conf", contentBase64: Buffer.from("k=v\n").toString("base64") },
                ],
            },
            { dependsOn: [vol.urn] },
        );
        const result = await h.up([vol, app]);
        assert.deepEqual(result.created, [`${VOLUME}::t1-data`, `${CONTAINER}::t1-app`]);
        assert.ok(await volumeExists(`${RUN}-t1-data`));
        assert.ok(await containerExists(`${RUN}-t1-app`));

        const out = result.outputs.get(app.urn)!;
        const info = await inspect("container", `${RUN}-t1-app`);
        assert.equal(out.id, info.Id);
        assert.equal(out.name, `${RUN}-t1-app`);
        assert.equal(info.State.Running, true);
        assert.equal(info.Config.Labels[LABEL_KEY], LABEL_VALUE);
        assert.ok(info.Config.Env.includes("A=1"));
        assert.deepEqual(
            info.Mounts.map((m: any) => [m.Type, m.Name, m.Destination]),
            [["volume", `${RUN}-t1-data`, "/data"]],
        );
        assert.equal(result.outputs.get(vol.urn)!.name, `${RUN}-t1-data`);
        assert.match(String(result.outputs.get(vol.urn)!.mountpoint), /\/volumes\//);

        const files = await docker(["exec", out.id, "sh", "-c", "stat -c '%a %u:%g %n' /etc/app/run.sh /etc/app/conf; cat /etc/app/conf"]);
        assert.equal(files.stdout, "744 0:0 /etc/app/run.sh\n644 0:0 /etc/app/conf\nk=v\n");

        // A second up with the same recording changes nothing.
        const again = await h.up([vol, app]);
        assert.deepEqual([again.created, again.updated, again.replaced, again.deleted], [[], [], [], []]);
    });

    it("replaces a container with deleteBeforeReplace and keeps the volume's data", async function () {
        const h = harness();
        const vol = volume("t2-data");
        const v1 = container("t2-app", { mounts: [volumeMount(vol, "/data")] }, { dependsOn: [vol.urn], deleteBeforeReplace: true });
        const first = await h.up([vol, v1]);
        const oldId = first.outputs.get(v1.urn)!.id;
        await runInVolume(
            TEST_IMAGE,
            [`${RUN}-t2-data:/data`],
            "mkdir -p /data/db && echo precious > /data/db/f && chown -R 1000:1000 /data/db",
        );
        const before = await treeDigest(`${RUN}-t2-data`);

        const v2 = container(
            "t2-app",
            { mounts: [volumeMount(vol, "/data")], envs: ["VERSION=2"] },
            { dependsOn: [vol.urn], deleteBeforeReplace: true },
        );
        const second = await h.up([vol, v2]);
        assert.deepEqual(second.replaced, [`${CONTAINER}::t2-app`]);
        assert.deepEqual([second.created, second.deleted], [[], []]);
        const newId = second.outputs.get(v2.urn)!.id;
        assert.notEqual(newId, oldId);
        assert.equal(await containerExists(oldId), false);
        assert.equal((await containerState(newId)).Running, true);
        assert.equal(await treeDigest(`${RUN}-t2-data`), before);
    });

    it("fails a create-before-delete replacement of a named container with a name conflict", async function () {
        const h = harness();
        const v1 = container("t3-app");
        const first = await h.up([v1]);
        const oldId = first.outputs.get(v1.urn)!.id;

        const v2 = container("t3-app", { command: ["sleep", "700"] });
        await assert.rejects(h.up([v2]), (e: Error) => {
            assert.ok(e instanceof ReplayError);
            assert.match(e.message, /t3-app/);
            assert.match(e.message, /already in use|Conflict/i);
            return true;
        });
        // State still holds the old container, which keeps running.
        assert.equal(h.state.get(v1.urn)!.id, oldId);
        assert.equal((await containerState(oldId)).Running, true);
        assert.equal(h.pendingDeletes.length, 0);
    });

    it("updates the restart policy in place and keeps the container id", async function () {
        const h = harness();
        const v1 = container("t4-app", { restart: "no" });
        const first = await h.up([v1]);
        const id = first.outputs.get(v1.urn)!.id;

        const v2 = container("t4-app", { restart: "unless-stopped" });
        const second = await h.up([v2]);
        assert.deepEqual(second.updated, [`${CONTAINER}::t4-app`]);
        assert.deepEqual(second.replaced, []);
        assert.equal(second.outputs.get(v2.urn)!.id, id);
        assert.equal((await inspect("container", id)).HostConfig.RestartPolicy.Name, "unless-stopped");

        // A state-only field (mustRun) is an update that leaves the container alone;
        // a ForceNew field (envs) replaces it.
        const v3 = container("t4-app", { restart: "unless-stopped", mustRun: false });
        assert.deepEqual((await h.up([v3])).updated, [`${CONTAINER}::t4-app`]);
        const v4 = container("t4-app", { restart: "unless-stopped", mustRun: false, envs: ["X=1"] }, { deleteBeforeReplace: true });
        assert.deepEqual((await h.up([v4])).replaced, [`${CONTAINER}::t4-app`]);
    });

    it("records a one-shot job's non-zero exitCode without failing", async function () {
        const h = harness();
        const job = container("t5-job", {
            command: ["sh", "-c", "echo working; exit 3"],
            attach: true,
            mustRun: false,
            logs: true,
        });
        const result = await h.up([job]);
        const out = result.outputs.get(job.urn)!;
        assert.equal(out.exitCode, 3);
        assert.match(out.containerLogs, /working/);
        assert.equal((await containerState(out.id)).Status, "exited");
    });

    it("fails an attached job whose mustRun is left at true, like the provider", async function () {
        const h = harness();
        const job = container("t5-job-mustrun", { command: ["sh", "-c", "exit 0"], attach: true });
        await assert.rejects(h.up([job]), /exited immediately/);
        assert.equal(h.state.size, 0);
        assert.equal(await containerExists(`${RUN}-t5-job-mustrun`), false);
    });

    it("fails when a mustRun container exits at once, and records nothing", async function () {
        const h = harness();
        const vol = volume("t6-data");
        const app = container("t6-app", { command: ["sh", "-c", "echo dying >&2; exit 1"] }, { dependsOn: [vol.urn] });
        const after = volume("t6-after", {}, { dependsOn: [app.urn] });
        await assert.rejects(h.up([vol, app, after]), (e: Error) => {
            assert.match(e.message, /t6-app/);
            assert.match(e.message, /exited immediately/);
            assert.match(e.message, /dying/);
            return true;
        });
        assert.deepEqual([...h.state.keys()], [vol.urn]);
        assert.equal(await containerExists(`${RUN}-t6-app`), false);
        assert.equal(await volumeExists(`${RUN}-t6-after`), false);
    });

    it("fails the up when a local Command fails, and creates nothing after it", async function () {
        const h = harness();
        const ok = res(COMMAND, "t7-ok", { create: "echo fine" });
        const bad = res(COMMAND, "t7-bad", { create: "echo boom >&2; exit 7" }, { dependsOn: [ok.urn] });
        const later = volume("t7-later", {}, { dependsOn: [bad.urn] });
        await assert.rejects(h.up([ok, bad, later]), (e: Error) => {
            assert.ok(e instanceof ReplayError);
            assert.match(e.message, /t7-bad/);
            assert.match(e.message, /exit status 7/);
            assert.match(e.message, /boom/);
            return true;
        });
        assert.deepEqual([...h.state.keys()], [ok.urn]);
        assert.equal(h.state.get(ok.urn)!.outputs.stdout, "fine");
        assert.equal(await volumeExists(`${RUN}-t7-later`), false);
    });

    it("re-runs create when triggers change, runs update otherwise, and delete on replace", async function () {
        const h = harness();
        const file = path.join(scratch, "t8.log");
        const cmd = (triggers: unknown[], extra: Record<string, any> = {}) =>
            res(COMMAND, "t8-cmd", {
                create: `echo "create $TAG" >> ${file}`,
                delete: `echo "delete $TAG" >> ${file}`,
                environment: { TAG: `t${String(triggers[0])}` },
                triggers,
                ...extra,
            });
        const lines = () => readFileSync(file, "utf8").trim().split("\n");

        assert.deepEqual((await h.up([cmd([1])])).created, [`${COMMAND}::t8-cmd`]);
        assert.deepEqual(lines(), ["create t1"]);

        const same = await h.up([cmd([1])]);
        assert.deepEqual([same.created, same.updated, same.replaced], [[], [], []]);
        assert.deepEqual(lines(), ["create t1"]);

        // triggers change: replace = new create, then the old delete (old environment).
        assert.deepEqual((await h.up([cmd([2])])).replaced, [`${COMMAND}::t8-cmd`]);
        assert.deepEqual(lines(), ["create t1", "create t2", "delete t1"]);

        // Another input changes: update (no `update` set -> create runs again).
        const up = await h.up([cmd([2], { dir: scratch })]);
        assert.deepEqual([up.updated, up.replaced], [[`${COMMAND}::t8-cmd`], []]);
        assert.deepEqual(lines(), ["create t1", "create t2", "delete t1", "create t2"]);

        await h.destroy();
        assert.deepEqual(lines().slice(-1), ["delete t2"]);
        assert.equal(h.state.size, 0);
    });

    it("destroy keeps retainOnDelete volumes and removes everything else", async function () {
        const h = harness();
        const kept = volume("t9-kept", {}, { retainOnDelete: true });
        const gone = volume("t9-gone");
        const app = container(
            "t9-app",
            { mounts: [volumeMount(kept, "/kept"), volumeMount(gone, "/gone")] },
            { dependsOn: [kept.urn, gone.urn] },
        );
        await h.up([kept, gone, app]);
        await h.destroy();
        assert.equal(h.state.size, 0);
        assert.equal(await containerExists(`${RUN}-t9-app`), false);
        assert.equal(await volumeExists(`${RUN}-t9-gone`), false);
        assert.equal(await volumeExists(`${RUN}-t9-kept`), true);
    });

    it("substitutes mock ids, deletes removed resources, and cascades delete-before-replace", async function () {
        const h = harness();
        const net = res(NETWORK, "t10-net", { name: `${RUN}-t10-net`, labels: LABELS });
        const vol = volume("t10-data", {}, { deleteBeforeReplace: true });
        const app = container(
            "t10-app",
            // The program passed network.id: the recording holds the mock id.
            { mounts: [volumeMount(vol, "/data")], networksAdvanced: [{ name: net.id, aliases: ["app"] }] },
            { dependsOn: [net.urn, vol.urn] },
        );
        const first = await h.up([net, vol, app]);
        const info = await inspect("container", first.outputs.get(app.urn)!.id);
        assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [`${RUN}-t10-net`]);

        // Replacing the volume (delete first) must replace the container that mounts it first.
        const vol2 = volume("t10-data", { driverOpts: { type: "tmpfs", device: "tmpfs" } }, { deleteBeforeReplace: true });
        const second = await h.up([net, vol2, { ...app, inputs: { ...app.inputs } }]);
        assert.deepEqual(second.replaced.sort(), [`${CONTAINER}::t10-app`, `${VOLUME}::t10-data`].sort());
        assert.equal((await inspect("volume", `${RUN}-t10-data`)).Options.type, "tmpfs");

        // Dropping the container and the network from the recording deletes them.
        const third = await h.up([vol2]);
        assert.deepEqual(third.deleted, [`${CONTAINER}::t10-app`, `${NETWORK}::t10-net`]);
        assert.equal(await containerExists(`${RUN}-t10-app`), false);
        await h.destroy();
    });
});
