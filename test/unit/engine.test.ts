import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerCli, PersistentStack, PersistentStackArgs } from "../../components";
import { RecordedResource, recordProgram } from "../helpers/pulumiMocks";
import { types } from "../helpers/stacks";

const withJobs = (extra: Partial<PersistentStackArgs> = {}): PersistentStackArgs => ({
    volumes: { data: {}, backups: {} },
    containers: { web: { image: "a:1", pull: false, mounts: [{ type: "volume", volume: "data", target: "/d" }] } },
    backup: { volumes: ["data"], targetVolume: "backups", onDestroy: true, diskUsage: {} },
    restores: [{ volume: "data", from: "latest" }],
    ...extra,
});

/** The one-shot jobs of the component `name` (pre-deploy, final backup, restore, usage). */
const jobsOf = (resources: RecordedResource[], name: string) => {
    const jobs = resources.filter((r) => r.type === types.command && r.name.startsWith(`${name}-`));
    assert.deepStrictEqual(jobs.map((j) => j.name.slice(name.length + 1)).sort(), [
        "final-backup",
        "predeploy-web",
        "restore-data",
        "usage",
    ]);
    return jobs;
};

const jobScript = (job: RecordedResource) => (job.inputs.create === "true" ? job.inputs.delete : job.inputs.create);

describe("jobs follow the stack's docker provider", () => {
    for (const [how, options] of [
        ["an explicit provider", (p: docker.Provider) => ({ provider: p })],
        ["a providers array", (p: docker.Provider) => ({ providers: [p] })],
        ["a providers map", (p: docker.Provider) => ({ providers: { docker: p } })],
    ] as const) {
        it(`reaches the provider's engine given ${how}`, async () => {
            const rec = await recordProgram(() => {
                const remote = new docker.Provider("remote", { host: "ssh://deploy@docker-b" });
                new PersistentStack("app", withJobs(), options(remote));
            });
            const provider = rec.resources.find((r) => r.type === "pulumi:providers:docker")!;
            for (const child of rec.resources.filter((r) => r.type.startsWith("docker:"))) {
                assert.ok(child.options.provider?.startsWith(provider.urn), `${child.name} uses the remote provider`);
            }
            for (const job of jobsOf(rec.resources, "app")) {
                assert.deepStrictEqual(job.inputs.environment, { DOCKER_HOST: "ssh://deploy@docker-b" }, job.name);
            }
        });
    }

    it("reaches the engine of a provider inherited from a parent component", async () => {
        const rec = await recordProgram(() => {
            const remote = new docker.Provider("remote", { host: "tcp://docker-b:2375" });
            const parent = new pulumi.ComponentResource("acme:index:Platform", "platform", {}, { providers: [remote] });
            new PersistentStack("app", withJobs(), { parent });
        });
        for (const job of jobsOf(rec.resources, "app")) {
            assert.deepStrictEqual(job.inputs.environment, { DOCKER_HOST: "tcp://docker-b:2375" }, job.name);
        }
    });

    it("gives two stacks on two engines each their own engine, with the same prefix", async () => {
        const rec = await recordProgram(() => {
            const a = new docker.Provider("engine-a", {});
            const b = new docker.Provider("engine-b", { host: "unix:///run/docker-b.sock" });
            new PersistentStack("blue", withJobs({ namePrefix: "shop" }), { provider: a });
            new PersistentStack("green", withJobs({ namePrefix: "shop" }), { provider: b });
        });
        for (const job of jobsOf(rec.resources, "blue")) {
            assert.strictEqual(job.inputs.environment, undefined, `${job.name} uses the environment's engine`);
        }
        for (const job of jobsOf(rec.resources, "green")) {
            assert.deepStrictEqual(job.inputs.environment, { DOCKER_HOST: "unix:///run/docker-b.sock" }, job.name);
        }
        const volumes = rec.resources.filter((r) => r.type === types.volume).map((r) => r.inputs.name);
        assert.deepStrictEqual(volumes.sort(), ["shop-backups", "shop-backups", "shop-data", "shop-data"]);
    });

    it("refuses the same names twice on one provider", async () => {
        let error: Error | undefined;
        await recordProgram(() => {
            const b = new docker.Provider("engine-b", { host: "unix:///run/docker-b.sock" });
            new PersistentStack("blue", { namePrefix: "shop", volumes: { data: {} } }, { provider: b });
            try {
                new PersistentStack("green", { namePrefix: "shop", volumes: { data: {} } }, { provider: b });
            } catch (e) {
                error = e as Error;
            }
        });
        assert.match(
            error?.message ?? "",
            /PersistentStack "green": Docker volume shop-data is already managed by PersistentStack "blue" on the same engine/,
        );
    });

    it("uses the docker: config of the default provider", async () => {
        const rec = await recordProgram(() => void new PersistentStack("app", withJobs()), {
            config: { "docker:host": "ssh://ops@docker-c", "docker:context": "ignored-by-the-cli-when-host-is-set" },
        });
        for (const job of jobsOf(rec.resources, "app")) {
            assert.strictEqual(job.inputs.environment.DOCKER_HOST, "ssh://ops@docker-c", job.name);
        }
    });

    it("passes a context and a certificate directory", async () => {
        const rec = await recordProgram(() => {
            const p = new docker.Provider("remote", { context: "prod", certPath: "/etc/docker-certs" });
            new PersistentStack("app", withJobs(), { provider: p });
        });
        for (const job of jobsOf(rec.resources, "app")) {
            assert.deepStrictEqual(job.inputs.environment, {
                DOCKER_CONTEXT: "prod",
                DOCKER_CERT_PATH: "/etc/docker-certs",
                DOCKER_TLS_VERIFY: "1",
            });
        }
    });

    it("writes TLS material to a private temporary directory, never into the command", async () => {
        const rec = await recordProgram(() => {
            const p = new docker.Provider("remote", {
                host: "tcp://docker-b:2376",
                caMaterial: "CA-PEM",
                certMaterial: "CERT-PEM",
                keyMaterial: pulumi.secret("KEY-PEM"),
            });
            new PersistentStack("app", withJobs(), { provider: p });
        });
        for (const job of jobsOf(rec.resources, "app")) {
            assert.deepStrictEqual(job.inputs.environment, {
                DOCKER_HOST: "tcp://docker-b:2376",
                DOCKER_TLS_VERIFY: "1",
                PDS_DOCKER_CA_PEM: "CA-PEM",
                PDS_DOCKER_CERT_PEM: "CERT-PEM",
                PDS_DOCKER_KEY_PEM: "KEY-PEM",
            });
            assert.ok(job.secretInputs.includes("environment"), `${job.name}: the key is secret`);
            assert.ok(!JSON.stringify([job.inputs.create, job.inputs.delete]).includes("KEY-PEM"), job.name);
            assert.match(jobScript(job), /^DOCKER_CERT_PATH="\$\(mktemp -d\)"\n/);
        }
    });

    it("lets dockerHost override the provider's host", async () => {
        const rec = await recordProgram(() => {
            const p = new docker.Provider("remote", { host: "ssh://deploy@docker-b", context: "b" });
            new PersistentStack("app", withJobs({ dockerHost: "ssh://jump@docker-b" }), { provider: p });
        });
        for (const job of jobsOf(rec.resources, "app")) {
            assert.deepStrictEqual(job.inputs.environment, { DOCKER_HOST: "ssh://jump@docker-b" });
        }
    });

    it("refuses a provider whose engine it cannot tell, and registers nothing", async () => {
        class Opaque extends pulumi.ProviderResource {
            constructor() {
                super("docker", "opaque", {});
            }
        }
        let error: Error | undefined;
        const rec = await recordProgram(() => {
            const p = new Opaque();
            try {
                new PersistentStack("app", withJobs(), { provider: p });
            } catch (e) {
                error = e as Error;
            }
        });
        assert.match(
            error?.message ?? "",
            /PersistentStack "app": cannot tell which Docker engine the provider "docker" reaches .*set dockerHost/,
        );
        assert.deepStrictEqual(
            rec.resources.filter((r) => r.type !== "pulumi:providers:docker"),
            [],
        );
    });
});

describe("a stack without jobs", () => {
    it("does not need to know its provider's engine", async () => {
        class Opaque extends pulumi.ProviderResource {
            constructor() {
                super("docker", "opaque", {});
            }
        }
        const rec = await recordProgram(() => void new PersistentStack("app", { volumes: { data: {} } }, { provider: new Opaque() }));
        assert.strictEqual(rec.resources.filter((r) => r.type === types.volume).length, 1);
    });
});

describe("the docker CLI environment of an engine", () => {
    it("adds nothing for the default engine", () => {
        assert.deepStrictEqual(dockerCli({}), { environment: {}, setup: "" });
    });

    it("installs TLS material as ca.pem, cert.pem and key.pem readable only by the user", () => {
        const cli = dockerCli({ caMaterial: "CA", certMaterial: "CERT", keyMaterial: "KEY" });
        const script = `${cli.setup}ls "$DOCKER_CERT_PATH"; cat "$DOCKER_CERT_PATH/key.pem"; stat -c %a "$DOCKER_CERT_PATH/key.pem"; echo "$DOCKER_CERT_PATH"`;
        const out = execFileSync("sh", ["-c", script], { env: { ...process.env, ...cli.environment }, encoding: "utf8" })
            .trim()
            .split("\n");
        assert.deepStrictEqual(out.slice(0, 5), ["ca.pem", "cert.pem", "key.pem", "KEY", "600"]);
        assert.ok(!fs.existsSync(out[5]), "removed when the command exits");
    });
});
