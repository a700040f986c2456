// Notifications, health and metrics in the plan: secret URLs, the jobs'
// network, the healthcheck and maxAge, the metrics mount, and their validation.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PersistentStack, PersistentStackArgs, validateStackArgs } from "../../components";
import { cronIntervalSeconds, parseDuration, planHealth } from "../../components/backup/health";
import { loadStackArgs } from "../../components/config/stackConfig";
import { RecordedResource, recordProgram } from "../helpers/pulumiMocks";

const url = "https://ntfy.sh/s3cr3t-topic";

const args = (
    backup: Partial<NonNullable<PersistentStackArgs["backup"]>> = {},
    extra: Partial<PersistentStackArgs> = {},
): PersistentStackArgs => ({
    volumes: { pgdata: {}, backups: {}, metrics: {} },
    containers: { db: { image: "postgres:16", mounts: [{ type: "volume", volume: "pgdata", target: "/var/lib/postgresql/data" }] } },
    backup: { volumes: ["pgdata"], targetVolume: "backups", onDestroy: true, ...backup },
    ...extra,
});

async function record(a: PersistentStackArgs) {
    return (await recordProgram(() => void new PersistentStack("shop", a), { project: "shop", stack: "staging" })).resources;
}

const byName = (resources: RecordedResource[], name: string) => {
    const found = resources.find((r) => r.name === name);
    assert.ok(found, `no resource ${name}`);
    return found;
};

const envOf = (container: RecordedResource) =>
    Object.fromEntries((container.inputs.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

describe("schedule intervals and maxAge", () => {
    it("finds the longest gap between two runs of a cron schedule", () => {
        assert.strictEqual(cronIntervalSeconds("* * * * *"), 60);
        assert.strictEqual(cronIntervalSeconds("*/15 * * * *"), 900);
        assert.strictEqual(cronIntervalSeconds("15 3 * * *"), 86400);
        assert.strictEqual(cronIntervalSeconds("0 3,15 * * *"), 43200);
        assert.strictEqual(cronIntervalSeconds("0 9-17 * * 1-5"), 64 * 3600, "Friday 17:00 to Monday 09:00");
        assert.strictEqual(cronIntervalSeconds("0 3 * * 0"), 7 * 86400);
        assert.strictEqual(cronIntervalSeconds("0 3 1 * *"), 31 * 86400);
        assert.strictEqual(cronIntervalSeconds("0 3 1 1 *"), 365 * 86400);
        assert.strictEqual(cronIntervalSeconds("0 3 29 2 *"), 366 * 86400);
    });

    it("parses durations", () => {
        assert.strictEqual(parseDuration("90s"), 90);
        assert.strictEqual(parseDuration("90m"), 5400);
        assert.strictEqual(parseDuration("26h"), 93600);
        assert.strictEqual(parseDuration("7d"), 604800);
        assert.strictEqual(parseDuration("0"), 0);
        assert.throws(() => parseDuration("1w"), /invalid duration "1w"/);
    });

    it("defaults maxAge to twice the schedule's interval, none without a schedule, and checks often enough", () => {
        assert.deepStrictEqual(planHealth(undefined, "15 3 * * *"), { maxAgeSeconds: 172800, interval: "60s" });
        assert.deepStrictEqual(planHealth(undefined, undefined), { maxAgeSeconds: 0, interval: "60s" });
        assert.deepStrictEqual(planHealth("26h", "15 3 * * *"), { maxAgeSeconds: 93600, interval: "60s" });
        assert.deepStrictEqual(planHealth(undefined, "* * * * *"), { maxAgeSeconds: 120, interval: "15s" });
        assert.deepStrictEqual(planHealth("20s", undefined), { maxAgeSeconds: 20, interval: "5s" });
        assert.deepStrictEqual(planHealth("0", "15 3 * * *").maxAgeSeconds, 0);
    });
});

describe("backup notifications, health and metrics", () => {
    it("gives the backup container a healthcheck, with maxAge twice the schedule interval", async () => {
        const job = byName(await record(args({ schedule: "15 3 * * *" })), "shop-backup");
        assert.deepStrictEqual(job.inputs.healthcheck, {
            tests: ["CMD", "sh", "/usr/local/lib/pds/status.sh", "--health"],
            interval: "60s",
            timeout: "30s",
            retries: 1,
        });
        assert.strictEqual(envOf(job).BACKUP_MAX_AGE, "172800");
        assert.strictEqual(envOf(job).BACKUP_STACK_NAME, "shop-staging");
        const unscheduled = byName(await record(args()), "shop-backup");
        assert.ok(unscheduled.inputs.healthcheck, "a failed run still turns it unhealthy");
        assert.strictEqual(envOf(unscheduled).BACKUP_MAX_AGE, "0", "no age check without a schedule");
        assert.strictEqual(envOf(byName(await record(args({ maxAge: "26h" })), "shop-backup")).BACKUP_MAX_AGE, "93600");
    });

    it("gets no network without a notification target or a remote repository", async () => {
        const resources = await record(args({ schedule: "15 3 * * *" }));
        assert.strictEqual(byName(resources, "shop-backup").inputs.networkMode, "none");
        assert.match(byName(resources, "shop-predeploy-db").inputs.create, /--network none /);
    });

    it("joins the network named for the targets (bridge by default), and passes URLs only as secret files", async () => {
        const resources = await record(
            args({
                notify: [
                    { url: pulumi.secret(url), on: "always" },
                    { url: pulumi.secret("https://hooks.slack.com/T/x"), format: "slack" },
                ],
            }),
        );
        const job = byName(resources, "shop-backup");
        assert.strictEqual(job.inputs.networkMode, "bridge");
        const env = envOf(job);
        assert.strictEqual(env.BACKUP_NOTIFY_COUNT, "2");
        assert.strictEqual(env.BACKUP_NOTIFY_1_ON, "always");
        assert.strictEqual(env.BACKUP_NOTIFY_1_FORMAT, "auto");
        assert.strictEqual(env.BACKUP_NOTIFY_2_ON, "failure");
        assert.strictEqual(env.BACKUP_NOTIFY_2_FORMAT, "slack");
        assert.ok(!JSON.stringify(job.inputs.envs).includes("s3cr3t"), "not in the container environment");
        assert.ok(!JSON.stringify(job.inputs.labels).includes("s3cr3t"), "nor in labels");
        assert.strictEqual(job.inputs.uploads.find((u: any) => u.file === "/run/pds/notify/1").content, url);
        assert.ok(job.secretInputs.includes("uploads"), "the uploaded URL stays secret in state");
        for (const [name, field] of [
            ["shop-predeploy-db", "create"],
            ["shop-final-backup", "delete"],
        ] as const) {
            const cmd = byName(resources, name);
            assert.ok(!cmd.inputs[field].includes("s3cr3t") && !cmd.inputs[field].includes(Buffer.from(url).toString("base64")), name);
            assert.match(cmd.inputs[field], /--network bridge /);
            assert.match(cmd.inputs[field], /for f in \/run\/pds\/notify\/1 \/run\/pds\/notify\/2; do/);
            assert.strictEqual(cmd.inputs.environment.PDS_SECRET_1, Buffer.from(url).toString("base64"));
            assert.ok(cmd.secretInputs.includes("environment"), `${name}: environment is secret`);
        }
        const restore = byName(
            await record(args({ notify: [{ url }] }, { restores: [{ volume: "pgdata", from: "latest" }] })),
            "shop-restore-pgdata",
        );
        assert.match(restore.inputs.create, /--network none /, "restores notify no one: no network");
        assert.ok(!restore.inputs.create.includes("/run/pds/notify"), "and no URL");
        const named = await record(args({ notify: [{ url: pulumi.secret(url), network: "alerts" }] }));
        assert.strictEqual(byName(named, "shop-backup").inputs.networkMode, "alerts");
    });

    it("runs every trigger through run-job.sh: the pre-deploy gate, the final backup, the usage probe", async () => {
        const resources = await record(args({ notify: [{ url }], diskUsage: { maxPercent: 90 } }));
        assert.match(
            byName(resources, "shop-predeploy-db").inputs.create,
            /exec sh \/usr\/local\/lib\/pds\/run-job\.sh deploy backup\.sh\n/,
        );
        assert.match(
            byName(resources, "shop-final-backup").inputs.delete,
            /exec sh \/usr\/local\/lib\/pds\/run-job\.sh destroy backup\.sh\n/,
        );
        const probe = byName(resources, "shop-usage").inputs.create;
        assert.match(probe, /sh \/usr\/local\/lib\/pds\/run-job\.sh usage usage\.sh --json/);
        assert.match(probe, /for f in \/run\/pds\/notify\/1; do/, "alerts are notified");
        const job = byName(resources, "shop-backup");
        assert.ok(job.inputs.uploads.some((u: any) => u.file === "/usr/local/bin/status"));
        assert.ok(job.inputs.uploads.some((u: any) => u.file === "/usr/local/lib/pds/run-job.sh"));
    });

    it("mounts the metrics directory (a volume or a host path) read-write into the backup jobs, sources stay read-only", async () => {
        const resources = await record(args({ metrics: { volume: "metrics" } }));
        const job = byName(resources, "shop-backup");
        assert.deepStrictEqual(
            job.inputs.mounts.find((m: any) => m.target === "/metrics"),
            { type: "volume", source: "shop-staging-metrics", target: "/metrics", readOnly: false },
        );
        assert.ok(job.inputs.mounts.filter((m: any) => m.target.startsWith("/sources/")).every((m: any) => m.readOnly));
        assert.strictEqual(envOf(job).BACKUP_METRICS_DIR, "/metrics");
        assert.match(
            byName(resources, "shop-predeploy-db").inputs.create,
            /--mount type=volume,source=shop-staging-metrics,target=\/metrics /,
        );
        const host = byName(await record(args({ metrics: { hostPath: "/var/lib/node_exporter/textfile" } })), "shop-backup");
        assert.deepStrictEqual(
            host.inputs.volumes.find((v: any) => v.containerPath === "/metrics"),
            {
                hostPath: "/var/lib/node_exporter/textfile",
                containerPath: "/metrics",
                readOnly: false,
            },
        );
    });

    describe("validation", () => {
        const problems = (backup: Record<string, unknown>) => {
            try {
                validateStackArgs(args(backup as never));
            } catch (e) {
                return (e as Error).message;
            }
            return "";
        };
        it("rejects bad targets, maxAge and metrics", () => {
            assert.match(
                problems({ notify: [{ url: "ftp://x" }] }),
                /backup\.notify\[0\]\.url: url must be an http:\/\/ or https:\/\/ URL/,
            );
            assert.match(
                problems({ notify: [{ url, format: "teams" }] }),
                /backup\.notify\[0\]\.format: format must be "json", "ntfy", "slack" or "discord"/,
            );
            assert.match(
                problems({ notify: [{ url, on: "error" }] }),
                /backup\.notify\[0\]\.on: on must be "failure", "success" or "always"/,
            );
            assert.match(problems({ maxAge: "1w" }), /backup\.maxAge: maxAge must be a duration like "90m"/);
            assert.match(problems({ metrics: {} }), /backup\.metrics: set exactly one of hostPath and volume/);
            assert.match(problems({ metrics: { volume: "nope" } }), /backup\.metrics\.volume: unknown volume "nope"/);
            assert.match(problems({ metrics: { hostPath: "/etc" } }), /backup\.metrics\.hostPath: "\/etc" is a system path/);
            assert.strictEqual(problems({ notify: [{ url }], maxAge: "26h", metrics: { volume: "metrics" } }), "");
        });
        it("rejects targets that need another network than the remote repository", () => {
            const restic = { engine: "restic", restic: { password: "pw", repository: "sftp:u@h:/r", network: "backupnet" } };
            assert.match(
                problems({ ...restic, notify: [{ url }] }),
                /backup\.notify\[0\]\.network: the backup jobs join one network: "bridge" differs from "backupnet" \(backup\.restic\)/,
            );
            assert.strictEqual(problems({ ...restic, notify: [{ url, network: "backupnet" }] }), "");
        });
    });

    it("reads URLs from secret config keys (urlSecret) and refuses them in clear in stack config", () => {
        const source = (values: Record<string, unknown>) => ({
            getObject: <T>(k: string) => values[k] as T | undefined,
            get: (k: string) => values[k] as string | undefined,
            requireSecret: (k: string) => pulumi.secret(String(values[k])),
        });
        const base = { volumes: { data: {}, backups: {} }, notifyUrl: url };
        const loaded = loadStackArgs(
            source({ ...base, backup: { volumes: ["data"], targetVolume: "backups", notify: [{ urlSecret: "notifyUrl", on: "always" }] } }),
        );
        assert.ok(pulumi.Output.isInstance(loaded.backup!.notify![0].url));
        assert.strictEqual(loaded.backup!.notify![0].on, "always");
        assert.throws(
            () => loadStackArgs(source({ ...base, backup: { volumes: ["data"], targetVolume: "backups", notify: [{ url }] } })),
            /backup\.notify\[0\]\.url: notification URLs are secrets; set urlSecret to the config key of a secret/,
        );
        assert.throws(
            () =>
                loadStackArgs(source({ ...base, backup: { volumes: ["data"], targetVolume: "backups", notify: [{ urlSecret: "nope" }] } })),
            /backup\.notify\[0\]\.urlSecret: config key "nope" is not set; run: pulumi config set --secret nope <url>/,
        );
    });
});
