// The package as a user's Pulumi program gets it: `npm pack` (which builds it),
// the tarball installed into a fresh program, the examples under examples/
// compiled against the shipped types and run under Pulumi's runtime mocks.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { compileProgram, installExamples, packLibrary, Registered, run, runUnderMocks } from "../helpers/package";
import { repoRoot } from "../helpers/stacks";

const jobsOf = (resources: Registered[], stack: string) =>
    resources.filter((r) => r.type === "command:local:Command" && r.name.startsWith(`${stack}-`));

describe("the package a Pulumi program installs", function () {
    let tmp: string;
    let tarball: string;
    let files: string[];
    let consumer: string;

    before(function () {
        this.timeout(600000);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pds-package-"));
        ({ tarball, files } = packLibrary(tmp));
        consumer = installExamples(path.join(tmp, "consumer"), tarball);
    });

    after(() => {
        if (tmp) {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    describe("npm pack", () => {
        it("holds the built library, its types, source maps and job scripts", () => {
            for (const file of [
                "lib/index.js",
                "lib/index.d.ts",
                "lib/index.js.map",
                "lib/persistentStack.d.ts",
                "LICENSE",
                "README.md",
                "package.json",
            ]) {
                assert.ok(files.includes(file), `${file} is packed`);
            }
            const scripts = fs.readdirSync(path.join(repoRoot, "components/backup/scripts")).filter((f) => f.endsWith(".sh"));
            assert.ok(scripts.length > 5);
            for (const script of scripts) {
                assert.ok(files.includes(`lib/backup/scripts/${script}`), `${script} is packed`);
            }
            for (const js of files.filter((f) => f.endsWith(".js"))) {
                assert.ok(files.includes(js.replace(/\.js$/, ".d.ts")), `${js} has its types`);
            }
        });

        it("holds nothing else: no sources, tests, bench, CI, stacks or examples", () => {
            const stray = files.filter(
                (f) => /^(test|bench|\.ci|stacks|examples|components)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")),
            );
            assert.deepStrictEqual(stray, []);
        });
    });

    describe("installed from the tarball", () => {
        it("is a copy, not a link, with one @pulumi/pulumi in the tree", () => {
            const installed = path.join(consumer, "node_modules/@persistent-docker/stack");
            assert.ok(!fs.lstatSync(installed).isSymbolicLink());
            const copies = run("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable"], consumer).trim().split("\n");
            assert.deepStrictEqual([...new Set(copies)], [path.join(consumer, "node_modules/@pulumi/pulumi")]);
        });
    });

    describe("the README", () => {
        it('has a snippet under "Use it from your own program" that compiles against the package', function () {
            this.timeout(120000);
            const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
            const section = readme.slice(readme.indexOf("## Use it from your own program"));
            const snippet = /```ts\n([\s\S]*?)```/.exec(section)![1];
            assert.match(snippet, /from "@persistent-docker\/stack"/);
            const dir = path.join(consumer, "readme");
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "index.ts"), snippet);
            fs.copyFileSync(path.join(consumer, "two-engines/tsconfig.json"), path.join(dir, "tsconfig.json"));
            compileProgram(consumer, dir, ["--noEmit"]);
        });
    });

    describe("examples/two-engines (TypeScript)", () => {
        const hosts = { a: "unix:///var/run/docker.sock", b: "ssh://deploy@docker-b" };
        let program: { resources: Registered[]; outputs: any };

        before(function () {
            this.timeout(300000);
            const dir = path.join(consumer, "two-engines");
            // Compiles against the package's shipped types (the README's snippet is this program).
            compileProgram(consumer, dir);
            program = runUnderMocks(dir, "bin/index.js", {
                "engineA:host": hosts.a,
                "engineB:host": hosts.b,
                "two-engines:image": "pds-test/busybox:latest",
                "two-engines:pull": "false",
            });
        });

        it("puts every docker resource of a stack on that stack's provider", () => {
            const providers = program.resources.filter((r) => r.type === "pulumi:providers:docker");
            assert.deepStrictEqual(providers.map((p) => [p.name, p.inputs.host]).sort(), [
                ["engine-a", hosts.a],
                ["engine-b", hosts.b],
            ]);
            const dockerResources = program.resources.filter((r) => r.type.startsWith("docker:"));
            for (const [stack, engine] of [
                ["notes-a", "engine-a"],
                ["notes-b", "engine-b"],
            ]) {
                const own = dockerResources.filter((r) => r.name.startsWith(`${stack}-`));
                assert.deepStrictEqual(own.map((r) => r.type).sort(), [
                    "docker:index/container:Container",
                    "docker:index/container:Container",
                    "docker:index/network:Network",
                    "docker:index/volume:Volume",
                    "docker:index/volume:Volume",
                ]);
                for (const r of own) {
                    assert.match(r.provider ?? "", new RegExp(`pulumi:providers:docker::${engine}::`), `${r.name} is on ${engine}`);
                }
            }
            assert.strictEqual(dockerResources.length, 10);
        });

        it("runs every job of a stack against that stack's engine", () => {
            for (const [stack, host] of [
                ["notes-a", hosts.a],
                ["notes-b", hosts.b],
            ]) {
                const jobs = jobsOf(program.resources, stack);
                assert.deepStrictEqual(jobs.map((j) => j.name).sort(), [`${stack}-final-backup`, `${stack}-predeploy-app`]);
                for (const job of jobs) {
                    assert.strictEqual(job.inputs.environment?.DOCKER_HOST, host, `${job.name} runs on ${host}`);
                    assert.match(
                        job.inputs.create === "true" ? job.inputs.delete : job.inputs.create,
                        /^docker run .*sh \/usr\/local\/lib\/pds\/run-job\.sh (deploy|destroy) backup\.sh/ms,
                    );
                }
            }
        });

        it("uses the same Docker names on both engines", () => {
            const volumes = { data: "notes-data", backups: "notes-backups" };
            assert.deepStrictEqual(program.outputs.engineAVolumes, volumes);
            assert.deepStrictEqual(program.outputs.engineBVolumes, volumes);
            assert.deepStrictEqual(program.outputs.engineBContainers, { app: "notes-app" });
        });
    });

    describe("examples/javascript", () => {
        const dir = () => path.join(consumer, "javascript");
        const config = { "javascript:image": "pds-test/busybox:latest", "javascript:pull": "false" };

        it("loads from plain JavaScript and runs its jobs on the environment's engine", () => {
            const program = runUnderMocks(dir(), "index.js", config);
            assert.deepStrictEqual(program.outputs.volumeNames, { data: "javascript-test-data", backups: "javascript-test-backups" });
            const docker = program.resources.filter((r) => r.type.startsWith("docker:"));
            assert.strictEqual(docker.length, 5);
            assert.ok(
                docker.every((r) => !r.provider),
                "the default provider",
            );
            const [job] = jobsOf(program.resources, "notes");
            assert.strictEqual(job.name, "notes-predeploy-app");
            assert.strictEqual(job.inputs.environment, undefined);
        });

        it("follows the default provider's docker:host config", () => {
            const program = runUnderMocks(dir(), "index.js", { ...config, "docker:host": "ssh://deploy@docker-c" });
            const [job] = jobsOf(program.resources, "notes");
            assert.deepStrictEqual(job.inputs.environment, { DOCKER_HOST: "ssh://deploy@docker-c" });
        });
    });
});
