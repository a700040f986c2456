// The docker provider stand-in (test/provider/docker.ts) under the real Pulumi
// engine: an inline Automation API program with a Volume, a Network, a
// RemoteImage, a long-running Container, a one-shot job Container and a volume
// on a second daemon address, taken through up / preview / update / replace /
// refresh / destroy on the local daemon. PDS_DOCKER_PROVIDER=real runs it
// against the real docker plugin (see test/provider/standIn.ts).
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, OpMap, PulumiCommand, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { docker as dockerCli, inspect, removeByLabel, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { requireToolchain, standIns } from "../helpers/toolchain";

const usingStandIn = () => standIns.includes("docker");

/** The `pulumi` CLI to drive: $PDS_PULUMI_CLI, else the first `pulumi` on PATH. */
function findPulumiCli(): string | undefined {
    if (process.env.PDS_PULUMI_CLI) {
        return process.env.PDS_PULUMI_CLI;
    }
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const candidate = path.join(dir, "pulumi");
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // not here
        }
    }
    return undefined;
}

/** Count of resources per operation, without the zero entries. */
function counts(summary: OpMap | undefined): Record<string, number> {
    return Object.fromEntries(Object.entries(summary ?? {}).filter(([, n]) => (n ?? 0) > 0)) as Record<string, number>;
}

describe("docker provider stand-in on the real Pulumi engine", function () {
    const tag = `standin-${randomBytes(3).toString("hex")}`;
    const label = `pds.test=${tag}`;
    const settings = { env: "GREETING=one", restart: "no" };
    const secretValue = `hunter2-${tag}`;
    let tmp: string;
    let otherHost: string;
    let standInLog: string;
    let stack: Stack;
    let newStack: (stackName: string, program: PulumiFn) => Promise<Stack>;

    /** The program: every resource carries the test's label. */
    const program = async () => {
        const labels = [{ label: "pds.test", value: tag }];
        const volume = new docker.Volume("data", { labels }); // auto-named
        const network = new docker.Network("net", { name: `${tag}-net`, labels });
        const image = new docker.RemoteImage("img", { name: TEST_IMAGE, keepLocally: true });
        const app = new docker.Container("app", {
            name: `${tag}-app`,
            image: image.imageId,
            command: ["sleep", "3600"],
            envs: [settings.env, pulumi.secret(`TOKEN=${secretValue}`)],
            restart: settings.restart,
            mounts: [{ type: "volume", source: volume.name, target: "/data" }],
            networksAdvanced: [{ name: network.name }],
            labels,
        });
        const job = new docker.Container("job", {
            name: `${tag}-job`,
            image: image.imageId,
            command: ["sh", "-c", "echo done; exit 3"],
            attach: true,
            mustRun: false,
            networkMode: "none",
            labels,
        });
        const other = new docker.Provider("other", { host: otherHost });
        const otherVolume = new docker.Volume("other-data", { name: `${tag}-other`, labels }, { provider: other });
        return {
            volumeName: volume.name,
            mountpoint: volume.mountpoint,
            networkName: network.name,
            imageId: image.imageId,
            appId: app.id,
            appName: app.name,
            jobExitCode: job.exitCode,
            otherVolumeName: otherVolume.name,
        };
    };

    before(async function () {
        await requireDocker(this);
        requireToolchain(this);
        const cli = findPulumiCli();
        if (!cli) {
            const reason = "no pulumi CLI (set PDS_PULUMI_CLI or put pulumi on PATH)";
            if (process.env.CI === "true") {
                throw new Error(`The pulumi CLI is required in CI: ${reason}`);
            }
            console.warn(`\n!!!!! SKIPPING "${this.test?.parent?.fullTitle()}": ${reason}`);
            this.skip();
        }
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pds-standin-"));
        // A second address for the daemon: proves the provider's `host` reaches every command.
        const otherSock = path.join(tmp, "other.sock");
        fs.symlinkSync("/var/run/docker.sock", otherSock);
        otherHost = `unix://${otherSock}`;
        standInLog = path.join(tmp, "standin.log");
        // PulumiCommand.get wants <root>/bin/pulumi.
        fs.mkdirSync(path.join(tmp, "cli/bin"), { recursive: true });
        fs.symlinkSync(path.resolve(cli!), path.join(tmp, "cli/bin/pulumi"));
        fs.mkdirSync(path.join(tmp, "state"));
        fs.mkdirSync(path.join(tmp, "work"));
        const pulumiCommand = await PulumiCommand.get({ root: path.join(tmp, "cli") });
        newStack = (stackName, stackProgram) =>
            LocalWorkspace.createOrSelectStack(
                { stackName, projectName: "pdsstandin", program: stackProgram },
                {
                    pulumiCommand,
                    workDir: path.join(tmp, "work"),
                    // A private PULUMI_HOME, except for the real plugin, which lives in the user's plugin cache.
                    pulumiHome: usingStandIn() ? path.join(tmp, "home") : undefined,
                    envVars: {
                        PULUMI_CONFIG_PASSPHRASE: "test",
                        PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
                        PULUMI_SKIP_UPDATE_CHECK: "true",
                        PATH: process.env.PATH ?? "",
                        PDS_STANDIN_LOG: standInLog,
                    },
                },
            );
        stack = await newStack("dev", program);
    });

    after(async () => {
        if (tmp) {
            await removeByLabel(label);
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("up creates the volume, network and containers, with the outputs the components read", async () => {
        const up = await stack.up();
        // The stack, the explicit provider and 6 resources (default providers are not counted).
        assert.deepEqual(counts(up.summary.resourceChanges), { create: 8 });
        const out = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value]));
        assert.match(out.volumeName, /^data-[0-9a-f]{7}$/);
        assert.equal(out.mountpoint, (await inspect("volume", out.volumeName)).Mountpoint);
        assert.equal(out.networkName, `${tag}-net`);
        assert.equal(out.imageId, (await inspect("image", TEST_IMAGE)).Id);
        assert.equal(out.jobExitCode, 3);
        const app = await inspect("container", `${tag}-app`);
        assert.equal(app.Id, out.appId);
        assert.equal(out.appName, `${tag}-app`);
        assert.equal(app.State.Running, true);
        assert.ok(app.Config.Env.includes("GREETING=one"));
        assert.deepEqual(Object.keys(app.NetworkSettings.Networks), [`${tag}-net`]);
        assert.equal(app.Mounts[0].Name, out.volumeName);
        const job = await inspect("container", `${tag}-job`);
        assert.equal(job.State.ExitCode, 3, "the one-shot job is kept, not removed");
        assert.ok(await inspect("volume", `${tag}-other`));
    });

    it("keeps a secret input secret in the state", async () => {
        const app = await inspect("container", `${tag}-app`);
        assert.ok(app.Config.Env.includes(`TOKEN=${secretValue}`), "the container gets the plain value");
        // What the file backend keeps (`exportStack` would decrypt: it passes --show-secrets).
        const stateDir = path.join(tmp, "state", ".pulumi", "stacks");
        const files = fs.readdirSync(stateDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".json"));
        const state = files.map((f) => fs.readFileSync(path.join(stateDir, f), "utf8")).join("\n");
        assert.match(state, /"ciphertext"/);
        assert.ok(!state.includes(secretValue), "no plain secret in the stack's state");
    });

    it("sends every command of a provider with `host` to that address", function () {
        if (!usingStandIn()) {
            this.skip(); // read from the stand-in's log
        }
        const lines = fs.readFileSync(standInLog, "utf8").split("\n");
        const otherLines = lines.filter((l) => l.includes(`${tag}-other`));
        assert.ok(otherLines.length > 0);
        for (const l of otherLines) {
            assert.ok(l.includes(`] ${otherHost}: docker`), l);
        }
        assert.ok(lines.some((l) => l.includes(`(default host): docker create --name ${tag}-app`)));
    });

    it("a second preview shows no changes", async () => {
        const preview = await stack.preview();
        assert.deepEqual(counts(preview.changeSummary), { same: 8 });
    });

    it("an env change replaces the container, deleting the old one first", async () => {
        const before = await inspect("container", `${tag}-app`);
        settings.env = "GREETING=two";
        const up = await stack.up();
        assert.deepEqual(counts(up.summary.resourceChanges), { replace: 1, same: 7 });
        const after = await inspect("container", `${tag}-app`);
        assert.notEqual(after.Id, before.Id);
        assert.ok(after.Config.Env.includes("GREETING=two"));
        assert.equal(up.outputs.appId.value, after.Id);
        if (usingStandIn()) {
            // The stand-in's log shows the order; the real provider has the same rule (DeleteBeforeReplace).
            const lines = fs.readFileSync(standInLog, "utf8").split("\n");
            const removed = lines.findIndex((l) => l.includes(`docker rm -f -v ${before.Id}`));
            const created = lines.map((l) => l.includes(`docker create --name ${tag}-app`)).lastIndexOf(true);
            assert.ok(removed >= 0 && removed < created, "the old container goes before the new one is created");
        }
    });

    it("a restart-policy change updates the container in place", async () => {
        const before = await inspect("container", `${tag}-app`);
        settings.restart = "unless-stopped";
        const up = await stack.up();
        assert.deepEqual(counts(up.summary.resourceChanges), { update: 1, same: 7 });
        const after = await inspect("container", `${tag}-app`);
        assert.equal(after.Id, before.Id);
        assert.equal(after.HostConfig.RestartPolicy.Name, "unless-stopped");
        assert.deepEqual(counts((await stack.preview()).changeSummary), { same: 8 });
    });

    it("refresh keeps what exists and forgets a container removed behind its back", async () => {
        const clean = await stack.refresh();
        assert.deepEqual(counts(clean.summary.resourceChanges), { same: 8 });
        await dockerCli(["rm", "-f", `${tag}-app`]);
        const refreshed = await stack.refresh();
        assert.equal(refreshed.summary.resourceChanges?.delete, 1);
        const up = await stack.up();
        assert.deepEqual(counts(up.summary.resourceChanges), { create: 1, same: 7 });
        assert.equal((await inspect("container", `${tag}-app`)).State.Running, true);
    });

    it("fails the create of a container that must run but exits, and leaves nothing behind", async () => {
        const crash = await newStack("crash", async () => {
            const labels = [{ label: "pds.test", value: tag }];
            new docker.Container("crash", { name: `${tag}-crash`, image: TEST_IMAGE, command: ["true"], networkMode: "none", labels });
        });
        await assert.rejects(crash.up(), /container exited immediately/);
        assert.equal(await inspect("container", `${tag}-crash`), undefined, "the provider removed it");
        assert.deepEqual(counts((await crash.preview()).changeSummary), { create: 1, same: 1 }, "nothing in state");
    });

    it("destroy leaves nothing behind", async () => {
        await stack.destroy();
        for (const kind of [
            ["ps", "-aq"],
            ["volume", "ls", "-q"],
            ["network", "ls", "-q"],
        ]) {
            const r = await dockerCli([...kind, "--filter", `label=${label}`]);
            assert.equal(r.stdout.trim(), "", `${kind[0]} left behind`);
        }
        assert.ok(await inspect("image", TEST_IMAGE), "the shared test image stays");
    });
});
