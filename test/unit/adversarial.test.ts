// The adversarial suite: configurations that would hurt Docker, the job scripts
// or the user later, fed through both entry points (component args, and stack
// YAML through loadStackArgs), each refused with its path and the fix before
// any resource is registered.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, PersistentStack } from "../../components";
import { ConfigSource, loadStackArgs } from "../../components/config/stackConfig";
import { recordProgram } from "../helpers/pulumiMocks";
import { adversarialCases, attempt, baseConfig, Entry, expectedFor, yamlSource } from "../helpers/adversarial";

const entries: Array<Exclude<Entry, "both">> = ["args", "yaml"];

describe("the adversarial suite: what the component refuses, through both entry points", () => {
    const total = adversarialCases.reduce((n, c) => n + ((c.entry ?? "both") === "both" ? 2 : 1), 0);

    it(`has at least 150 cases (${total})`, () => assert.ok(total >= 150, `${total} cases`));

    for (const c of adversarialCases) {
        for (const entry of entries) {
            if ((c.entry ?? "both") !== "both" && c.entry !== entry) {
                continue;
            }
            it(`${entry}: refuses ${c.what}`, async () => {
                const config = baseConfig();
                c.mutate(config);
                const { error, registered } = await attempt(() =>
                    entry === "args"
                        ? new PersistentStack("app", config as never)
                        : new PersistentStack("app", loadStackArgs(yamlSource(config, c.yaml))),
                );
                assert.ok(error instanceof ConfigError, `a ConfigError, got: ${error instanceof Error ? error.stack : String(error)}`);
                const expected = expectedFor(c, entry);
                assert.ok(error.message.includes(expected), `expected "${expected}" in:\n${error.message}`);
                assert.strictEqual(registered, 0, "nothing registered");
            });
        }
    }
});

describe("what the component accepts after the fixes", () => {
    it("a volume keyed constructor and a container keyed toString deploy, and the hook finds its container", async () => {
        const config = baseConfig();
        config.volumes.constructor = {};
        config.containers.toString = { image: "busybox:1.37", mounts: [{ type: "volume", volume: "constructor", target: "/c" }] };
        config.backup.volumes.push("constructor");
        config.backup.consistency = { constructor: { preCommands: [{ container: "toString", command: ["sync"] }] } };
        const rec = await recordProgram(() => void new PersistentStack("app", config as never));
        const backup = rec.resources.find((r) => r.name === "app-backup")!;
        const envs: string[] = backup.inputs.envs;
        assert.ok(envs.includes("BACKUP_HOOK_1_CONTAINER=persistent-test-toString"), envs.join("\n"));
        assert.ok(rec.resources.some((r) => r.inputs.name === "persistent-test-constructor"));
    });

    it("binds the host clock and a config directory under /etc without allowDangerous", async () => {
        const config = baseConfig();
        config.containers.web.mounts.push({ type: "bind", source: "/etc/localtime", target: "/etc/localtime", readOnly: true });
        config.containers.web.mounts.push({ type: "bind", source: "/etc/nginx/conf.d", target: "/etc/nginx/conf.d", readOnly: true });
        const { error } = await attempt(() => new PersistentStack("app", config as never));
        assert.strictEqual(error, undefined);
    });
});

describe("secrets from stack YAML stay secret", () => {
    const project = "persistent";
    const key = (k: string) => `${project}:${k}`;
    const secrets = {
        dockerHost: "ssh://deploy@10.0.0.9",
        resticPassword: "restic-pw-1",
        awsSecret: "aws-secret-2",
        dbPassword: "db-pw-3",
        pathSecret: "path-secret-4",
    };

    it("leaves no secret in plain text in any registered input", async () => {
        const config = {
            [key("dockerHost")]: secrets.dockerHost,
            [key("resticPassword")]: secrets.resticPassword,
            [key("awsSecret")]: secrets.awsSecret,
            [key("dbPassword")]: secrets.dbPassword,
            [key("volumes")]: { data: {} },
            // `pulumi config set --secret --path containers.app.env.API_TOKEN ...` marks the whole key secret.
            [key("containers")]: {
                app: {
                    image: "busybox:1.37",
                    env: { API_TOKEN: secrets.pathSecret },
                    mounts: [{ type: "volume", volume: "data", target: "/data" }],
                },
                db: { image: "postgres:16", secretEnv: { DB_PASSWORD: "dbPassword" } },
            },
            [key("backup")]: {
                engine: "restic",
                volumes: ["data"],
                onDestroy: true,
                restic: {
                    repository: "s3:s3.amazonaws.com/bucket/app",
                    passwordSecret: "resticPassword",
                    env: { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE" },
                    envSecret: { AWS_SECRET_ACCESS_KEY: "awsSecret" },
                },
            },
        };
        const secretKeys = ["dockerHost", "resticPassword", "awsSecret", "dbPassword", "containers"].map(key);
        const rec = await recordProgram(() => void new PersistentStack("app", loadStackArgs(new pulumi.Config())), {
            project,
            config,
            secretKeys,
        });
        assert.ok(rec.resources.length > 5, "the stack deployed");
        const leaks: string[] = [];
        for (const r of rec.resources) {
            for (const [input, value] of Object.entries(r.inputs)) {
                const text = JSON.stringify(value) ?? "";
                for (const [what, secret] of Object.entries(secrets)) {
                    const forms = [secret, Buffer.from(secret).toString("base64")];
                    if (forms.some((f) => text.includes(f)) && !r.secretInputs.includes(input)) {
                        leaks.push(`${r.name}.${input} carries ${what} in plain text`);
                    }
                }
            }
        }
        assert.deepStrictEqual(leaks, []);
        // And the secrets did reach where they are needed.
        const final = rec.resources.find((r) => r.name === "app-final-backup")!;
        assert.strictEqual(final.inputs.environment.DOCKER_HOST, secrets.dockerHost);
        assert.strictEqual(final.inputs.environment.AWS_SECRET_ACCESS_KEY, secrets.awsSecret);
        assert.ok(final.secretInputs.includes("environment"));
    });

    it("keeps dockerHost set with --secret secret on its own", async () => {
        const rec = await recordProgram(() => void new PersistentStack("app", loadStackArgs(new pulumi.Config())), {
            project,
            config: {
                [key("dockerHost")]: "tcp://10.0.0.9:2376",
                [key("volumes")]: { data: {}, b: {} },
                [key("backup")]: { volumes: ["data"], targetVolume: "b", onDestroy: true },
            },
            secretKeys: [key("dockerHost")],
        });
        const final = rec.resources.find((r) => r.name === "app-final-backup")!;
        assert.strictEqual(final.inputs.environment.DOCKER_HOST, "tcp://10.0.0.9:2376");
        assert.deepStrictEqual(final.secretInputs, ["environment"]);
    });

    it("refuses an object key given as a plain string, naming the key", () => {
        const source: ConfigSource = {
            ...yamlSource({}),
            getObject: (k: string) => {
                if (k === "volumes") {
                    throw new Error("Configuration 'persistent:volumes' value 'pgdata' is not a valid object");
                }
                return undefined;
            },
        };
        assert.throws(() => loadStackArgs(source), /volumes: must be a YAML mapping or list, not a plain string/);
    });

    it("refuses a restic password written in plain text in the stack file, with the command to fix it", () => {
        const source: ConfigSource = yamlSource({
            volumes: { data: {}, b: {} },
            backup: { engine: "restic", volumes: ["data"], targetVolume: "b", restic: { password: "hunter2" } },
        });
        assert.throws(
            () => loadStackArgs(source),
            /backup\.restic\.password: a plain-text password in the stack file is stored unencrypted .*run: pulumi config set --secret resticPassword <password>, then set backup\.restic\.passwordSecret: resticPassword/,
        );
    });
});
