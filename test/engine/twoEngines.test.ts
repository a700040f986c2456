// The composed example (examples/two-engines) from the packed library, deployed
// with the real `pulumi` CLI to two real Docker engines on this machine: the
// first daemon and a second one with its own socket, data root and bridge
// (.ci/docker-second.sh). Both stacks use the same names; data, jobs and
// backups must each stay on their own engine.
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { docker, removeByLabel, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { installExamples, packLibrary } from "../helpers/package";
import { repoRoot } from "../helpers/stacks";
import { requireToolchain } from "../helpers/toolchain";

const engineA = "unix:///var/run/docker.sock";

describe("the packed library in the examples, deployed with the real CLI", function () {
    this.timeout(900_000);
    let engineB = "";
    let tmp = "";
    let program = "";
    let env: NodeJS.ProcessEnv = {};

    const on = (host: string, args: string[], allowFail = false) => docker(["-H", host, ...args], { allowFail });
    function pulumi(...args: string[]): string {
        return pulumiIn(program, ...args);
    }
    function pulumiIn(cwd: string, ...args: string[]): string {
        const r = spawnSync("pulumi", args, { cwd, env, encoding: "utf8", timeout: 600_000, maxBuffer: 256 * 1024 * 1024 });
        assert.equal(r.status, 0, `pulumi ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
    }
    /** Names of the objects of `kind` on `host` carrying `label`. */
    async function owned(host: string, kind: "container" | "volume", label: string): Promise<string[]> {
        const list = kind === "container" ? ["ps", "-a", "--format", "{{.Names}}"] : ["volume", "ls", "--format", "{{.Name}}"];
        const r = await on(host, [...list, "--filter", `label=${label}`]);
        return r.stdout.split("\n").filter(Boolean).sort();
    }
    const archives = async (host: string) =>
        (await on(host, ["run", "--rm", "--network", "none", "-v", "notes-backups:/b:ro", TEST_IMAGE, "ls", "/b"])).stdout
            .split("\n")
            .filter((f) => /\.tar\.gz$/.test(f));

    before(async function () {
        requireToolchain(this);
        await requireDocker(this);
        engineB = execFileSync("bash", [path.join(repoRoot, ".ci/docker-second.sh")], { encoding: "utf8" })
            .trim()
            .split("\n")
            .pop()!;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pds-two-engines-"));
        const { tarball } = packLibrary(tmp);
        program = path.join(installExamples(path.join(tmp, "consumer"), tarball), "two-engines");
        fs.mkdirSync(path.join(tmp, "state"));
        env = {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "two-engines",
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
        pulumi("stack", "init", "test");
        pulumi("config", "set", "engineA:host", engineA);
        pulumi("config", "set", "engineB:host", engineB);
        pulumi("config", "set", "image", TEST_IMAGE);
        pulumi("config", "set", "pull", "false");
    });

    after(async () => {
        for (const host of [engineA, engineB].filter(Boolean)) {
            for (const stack of ["notes-a", "notes-b"]) {
                // Retained volumes stay after destroy; the engine's own label selects them.
                const r = await on(host, ["volume", "ls", "-q", "--filter", `label=pds.component=${stack}`], true);
                for (const v of r.stdout.split("\n").filter(Boolean)) await on(host, ["volume", "rm", "-f", v], true);
            }
        }
        await removeByLabel("pds.project=two-engines").catch(() => undefined);
        await removeByLabel("pds.project=javascript").catch(() => undefined);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("deploys each stack, its jobs and its backups on its own engine, and nothing on the other", async () => {
        pulumi("up", "--yes");
        for (const [host, mine, other] of [
            [engineA, "notes-a", "notes-b"],
            [engineB, "notes-b", "notes-a"],
        ]) {
            assert.deepEqual(
                await owned(host, "container", `pds.component=${mine}`),
                ["notes-app", "notes-backup"],
                `${mine} runs on ${host}`,
            );
            assert.deepEqual(await owned(host, "volume", `pds.component=${mine}`), ["notes-backups", "notes-data"]);
            assert.deepEqual(await owned(host, "container", `pds.component=${other}`), [], `nothing of ${other} on ${host}`);
            assert.deepEqual(await owned(host, "volume", `pds.component=${other}`), []);
        }

        await on(engineB, ["exec", "notes-app", "sh", "-c", "echo only-on-b > /data/file"]);
        await on(engineB, ["exec", "notes-backup", "backup-now"]);
        assert.equal((await archives(engineB)).length, 1, "engine B's backup is on engine B");
        assert.equal((await archives(engineA)).length, 0, "and not on engine A");

        pulumi("destroy", "--yes");
        const onB = await archives(engineB);
        assert.equal(onB.length, 2, `the final backup of engine B's stack went to engine B: ${onB}`);
        const last = onB.sort().pop()!;
        const content = await on(engineB, [
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "notes-backups:/b:ro",
            TEST_IMAGE,
            "tar",
            "xzf",
            `/b/${last}`,
            "-O",
            "./file",
        ]);
        assert.equal(content.stdout, "only-on-b\n");
        assert.deepEqual(await owned(engineA, "container", "pds.component=notes-b"), [], "no job of engine B's stack ran on engine A");
        assert.deepEqual(await owned(engineA, "volume", "pds.component=notes-b"), []);
    });

    it("the plain JavaScript example deploys from the same tarball, previews clean and tears down", async () => {
        const js = path.join(path.dirname(program), "javascript");
        pulumiIn(js, "stack", "init", "test");
        pulumiIn(js, "config", "set", "image", TEST_IMAGE);
        pulumiIn(js, "config", "set", "pull", "false");
        pulumiIn(js, "up", "--yes");
        const running = await docker(["inspect", "-f", "{{.State.Running}}", "javascript-test-app", "javascript-test-backup"]);
        assert.equal(running.stdout, "true\ntrue\n");
        pulumiIn(js, "preview", "--expect-no-changes");
        pulumiIn(js, "destroy", "--yes");
        assert.equal((await docker(["ps", "-aq", "--filter", "label=pds.project=javascript"])).stdout.trim(), "");
    });
});
