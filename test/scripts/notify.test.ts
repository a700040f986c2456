// run-job.sh, notify.sh and status.sh: every run recorded, notifications
// delivered with busybox wget to a receiver on loopback, health, metrics.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as path from "path";
import { Env, finished, RunResult, Sandbox, SCRIPTS_DIR, T, toolDir } from "./helpers";

interface Received {
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** An HTTP receiver on 127.0.0.1: answers `status(url)` (200 by default), or never for /hang. */
async function receiver(status: (url: string) => number = () => 200) {
    const requests: Received[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
            requests.push({ url: req.url ?? "", headers: req.headers, body });
            if (req.url?.startsWith("/hang")) return;
            res.writeHead(status(req.url ?? ""));
            res.end("ok");
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        base,
        requests,
        close: () => {
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

/** Run a script asynchronously (the receiver lives in this process). */
function run(script: string, env: Env, args: string[] = []): Promise<RunResult> {
    return finished(
        spawn("busybox", ["sh", path.join(SCRIPTS_DIR, script), ...args], {
            env: { PATH: toolDir(), ...env },
            stdio: ["ignore", "pipe", "pipe"],
        }),
    );
}

describe("notifications, status and metrics (run-job.sh)", () => {
    let sb: Sandbox;
    let rx: Awaited<ReturnType<typeof receiver>>;
    let notifyDir: string;
    let metricsDir: string;
    const secretUrl = (p: string) => `${rx.base}/${p}/s3cr3t-t0ken`;

    /** Environment with notification targets [url, format, on]. */
    function env(targets: Array<[string, string?, string?]>, extra: Env = {}): Env {
        fs.rmSync(notifyDir, { recursive: true, force: true });
        fs.mkdirSync(notifyDir);
        const e: Env = {
            BACKUP_VOLUMES: "db",
            BACKUP_STACK_NAME: "shop-prod",
            BACKUP_NOTIFY_DIR: notifyDir,
            BACKUP_NOTIFY_COUNT: String(targets.length),
            BACKUP_NOTIFY_RETRIES: "2",
            BACKUP_METRICS_DIR: metricsDir,
        };
        targets.forEach(([url, format, on], i) => {
            fs.writeFileSync(path.join(notifyDir, String(i + 1)), url);
            if (format) e[`BACKUP_NOTIFY_${i + 1}_FORMAT`] = format;
            if (on) e[`BACKUP_NOTIFY_${i + 1}_ON`] = on;
        });
        return sb.env({ ...e, ...extra });
    }
    const status = async (extra: Env = {}) => {
        const r = await run("status.sh", sb.env({ BACKUP_VOLUMES: "db", ...extra }));
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout);
    };

    beforeEach(async () => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha" });
        notifyDir = path.join(sb.root, "notify");
        metricsDir = path.join(sb.root, "metrics");
        fs.mkdirSync(metricsDir);
        rx = await receiver((url) => (url.startsWith("/fail") ? 500 : 200));
    });
    afterEach(async () => {
        await rx.close();
        sb.cleanup();
    });

    it("sends a failure as JSON naming stack, volume, engine, trigger and what failed, with the last log lines and no secret", async () => {
        fs.rmSync(path.join(sb.sources, "db"), { recursive: true });
        const r = await run("run-job.sh", env([[secretUrl("hook")]]), ["schedule", "backup.sh"]);
        assert.equal(r.status, 1, "the job's exit code is kept");
        assert.match(r.stderr, /volume db: source directory .* does not exist/, "the job's log passes through");
        assert.equal(rx.requests.length, 1);
        const [req] = rx.requests;
        assert.equal(req.headers["content-type"], "application/json");
        const body = JSON.parse(req.body);
        assert.equal(body.event, "failure");
        assert.equal(body.stack, "shop-prod");
        assert.deepEqual(body.volumes, ["db"]);
        assert.equal(body.engine, "tar");
        assert.equal(body.trigger, "schedule");
        assert.equal(body.job, "backup");
        assert.equal(body.exitCode, 1);
        assert.match(body.failed, /volume db: source directory .* does not exist/);
        assert.match(body.log, /backup failed for volume\(s\): db/);
        assert.ok(!req.body.includes("s3cr3t"), "the URL is not in the body");
        assert.ok(!r.stderr.includes("s3cr3t"), "nor in the log");
        assert.match(r.stderr, /notification: target 1 \(json\): delivered/);

        const s = await status();
        assert.equal(s.healthy, false);
        assert.equal(s.lastRun.result, "failure");
        assert.equal(s.lastRun.trigger, "schedule");
        assert.match(s.volumes.db.lastFailure.reason, /source directory .* does not exist/);
        assert.equal(s.volumes.db.lastSuccess, null);
        assert.equal(s.lastNotification.result, "delivered");
        const health = await run("status.sh", sb.env(), ["--health"]);
        assert.equal(health.status, 1);
        assert.match(health.stdout, /^last run failed: backup \(schedule, exit 1\)/);
    });

    it("notifies a success only when a target asks (on: success | always), and records the newest backup", async () => {
        const r = await run(
            "run-job.sh",
            env([[`${rx.base}/failure-only`], [`${rx.base}/success`, "json", "success"], [`${rx.base}/always`, "json", "always"]]),
            ["backup-now", "backup.sh"],
        );
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^created prod-db-\d{8}T\d{6}Z\.tar\.gz$/m, "the job's stdout passes through");
        assert.deepEqual(rx.requests.map((q) => q.url).sort(), ["/always", "/success"]);
        assert.equal(JSON.parse(rx.requests[0].body).event, "success");
        const s = await status();
        assert.equal(s.healthy, true);
        assert.equal(s.volumes.db.lastResult, "success");
        assert.ok(s.volumes.db.newestBackup.bytes > 0);
        assert.equal(s.volumes.db.newestBackup.bytes, fs.statSync(path.join(sb.target, s.volumes.db.newestBackup.name)).size);
    });

    it("builds ntfy, Slack/Mattermost and Discord bodies, by format or by URL", async () => {
        fs.rmSync(path.join(sb.sources, "db"), { recursive: true });
        await run(
            "run-job.sh",
            env([
                [`${rx.base}/ntfy-topic`, "ntfy"],
                [`${rx.base}/hooks/abc`], // Mattermost's incoming webhook path: slack body
                [`${rx.base}/discord`, "discord"],
            ]),
            ["deploy", "backup.sh"],
        );
        const by = (url: string) => rx.requests.find((q) => q.url === url)!;
        const ntfy = by("/ntfy-topic");
        assert.equal(ntfy.headers.title, "Backup FAILED: backup of shop-prod");
        assert.equal(ntfy.headers.priority, "high");
        assert.match(ntfy.headers["content-type"] ?? "", /^text\/plain/);
        assert.match(ntfy.body, /^stack: shop-prod\njob: backup \(tar engine\), trigger: deploy\nvolumes: db\n/);
        assert.match(JSON.parse(by("/hooks/abc").body).text, /^Backup FAILED: backup of shop-prod\nstack: shop-prod/);
        const discord = JSON.parse(by("/discord").body).content;
        assert.match(discord, /^\*\*Backup FAILED/);
        assert.ok(discord.length <= 2000);

        const format = async (url: string) =>
            (
                await finished(
                    spawn("busybox", ["sh", "-c", `. ${SCRIPTS_DIR}/notify.sh; notify_format "$1" auto`, "sh", url], {
                        env: { PATH: toolDir() },
                    }),
                )
            ).stdout.trim();
        assert.equal(await format("https://hooks.slack.com/services/T/B/X"), "slack");
        assert.equal(await format("https://chat.example.com/hooks/xyz"), "slack");
        assert.equal(await format("https://discord.com/api/webhooks/1/abc"), "discord");
        assert.equal(await format("https://ntfy.sh/my-topic"), "ntfy");
        assert.equal(await format("https://user:pw@ntfy.example.com/t"), "ntfy");
        assert.equal(await format("https://example.com/webhook"), "json");
    });

    it("retries a failing target a bounded number of times, logs and records the failure, and keeps the good backup good", async () => {
        const r = await run("run-job.sh", env([[secretUrl("fail")]], { BACKUP_NOTIFY_1_ON: "always" }), ["backup-now", "backup.sh"]);
        assert.equal(r.status, 0, "a delivery failure does not fail the backup");
        assert.equal(rx.requests.length, 2, "BACKUP_NOTIFY_RETRIES attempts");
        assert.match(r.stderr, /target 1 \(json\): failed after 2 attempt\(s\): .*500/);
        assert.ok(!r.stderr.includes("s3cr3t"));
        const s = await status();
        assert.equal(s.healthy, true);
        assert.equal(s.lastNotification.result, "failed");
        assert.ok(!JSON.stringify(s).includes("s3cr3t"));
        assert.match(fs.readFileSync(path.join(metricsDir, "prod.prom"), "utf8"), /^pds_backup_notification_ok\{stack="shop-prod"\} 0$/m);
    });

    it("bounds each attempt with a timeout", async () => {
        const started = Date.now();
        const r = await run(
            "run-job.sh",
            env([[`${rx.base}/hang`, "json", "always"]], { BACKUP_NOTIFY_TIMEOUT: "1", BACKUP_NOTIFY_RETRIES: "1" }),
            ["backup-now", "backup.sh"],
        );
        assert.equal(r.status, 0);
        assert.ok(Date.now() - started < 10_000);
        assert.match(r.stderr, /target 1 \(json\): failed after 1 attempt\(s\)/);
    });

    it("redacts secrets (URLs, the restic password) from log lines", async () => {
        fs.mkdirSync(notifyDir, { recursive: true });
        fs.writeFileSync(path.join(notifyDir, "1"), "https://ntfy.sh/secret-topic");
        fs.writeFileSync(path.join(sb.root, "pw"), "hunter2-password");
        const r = await finished(
            spawn("busybox", ["sh", "-c", `. ${SCRIPTS_DIR}/status.sh; . ${SCRIPTS_DIR}/notify.sh; redact_stream`], {
                env: { PATH: toolDir(), BACKUP_NOTIFY_DIR: notifyDir, RESTIC_PASSWORD_FILE: path.join(sb.root, "pw"), TMPDIR: sb.tmp },
                stdio: ["pipe", "pipe", "pipe"],
            }).on("spawn", function (this: ReturnType<typeof spawn>) {
                this.stdin!.end("posting to https://ntfy.sh/secret-topic failed\npassword hunter2-password twice hunter2-password\n");
            }),
        );
        assert.equal(r.stdout, "posting to *** failed\npassword *** twice ***\n");
    });

    it("turns unhealthy when the newest good backup is older than maxAge, with no new run", async () => {
        const ok = await run("run-job.sh", env([], { BACKUP_TIMESTAMP: T(0) }), ["schedule", "backup.sh"]);
        assert.equal(ok.status, 0, ok.stderr);
        const fresh = await run("status.sh", sb.env({ BACKUP_MAX_AGE: "7200", BACKUP_TIMESTAMP: T(1) }), ["--health"]);
        assert.equal(fresh.status, 0, fresh.stdout);
        const stale = await run("status.sh", sb.env({ BACKUP_MAX_AGE: "7200", BACKUP_TIMESTAMP: T(3) }), ["--health"]);
        assert.equal(stale.status, 1);
        assert.equal(stale.stdout, "volume db: newest good backup is 10800s old (maxAge 7200s)\n");
        const s = await status({ BACKUP_MAX_AGE: "7200", BACKUP_TIMESTAMP: T(3) });
        assert.equal(s.volumes.db.newestBackup.ageSeconds, 10800);
        assert.equal(s.healthy, false);
    });

    it("flips back to healthy after a good run follows a failed one", async () => {
        fs.rmSync(path.join(sb.sources, "db"), { recursive: true });
        await run("run-job.sh", env([]), ["schedule", "backup.sh"]);
        const failed = await run("status.sh", sb.env(), ["--health"]);
        assert.equal(failed.status, 1);
        assert.match(
            failed.stdout,
            /^last run failed: backup \(schedule, exit 1\) at .*: backup\.sh: error: volume db: source directory .* does not exist/,
        );
        sb.volume("db", { "a.txt": "again" });
        await run("run-job.sh", env([]), ["schedule", "backup.sh"]);
        const health = await run("status.sh", sb.env(), ["--health"]);
        assert.equal(health.status, 0, health.stdout);
        const s = await status();
        assert.ok(s.volumes.db.lastFailure, "the last failure is still reported");
        assert.equal(s.volumes.db.lastResult, "success");
    });

    it("writes a Prometheus textfile that parses and matches status", async () => {
        await run("run-job.sh", env([]), ["schedule", "backup.sh"]);
        const text = fs.readFileSync(path.join(metricsDir, "prod.prom"), "utf8");
        assert.deepEqual(
            fs.readdirSync(metricsDir).filter((f) => f !== "prod.prom"),
            [],
            "no temporary file left",
        );
        const samples: Record<string, number> = {};
        for (const line of text.split("\n").filter(Boolean)) {
            if (line.startsWith("#")) {
                assert.match(line, /^# (HELP|TYPE) pds_backup_[a-z_]+ /);
                continue;
            }
            const m = /^(pds_backup_[a-z_]+)\{([a-z]+="[^"]*"(,[a-z]+="[^"]*")*)\} (-?\d+(\.\d+)?)$/.exec(line);
            assert.ok(m, `sample line parses: ${line}`);
            samples[m[1] + (m[2].includes('volume="db"') ? ":db" : "")] = Number(m[4]);
        }
        const s = await status();
        assert.equal(samples["pds_backup_last_result:db"], 1);
        assert.equal(samples["pds_backup_last_success_timestamp_seconds:db"], Date.parse(s.volumes.db.lastSuccess) / 1000);
        assert.equal(samples["pds_backup_last_bytes:db"], s.volumes.db.newestBackup.bytes);
        assert.equal(samples["pds_backup_last_duration_seconds:db"], s.volumes.db.lastDurationSeconds);
        assert.equal(samples["pds_backup_healthy"], 1);
    });

    it("reports a disk-usage alert of the deploy-time probe as a failure", async () => {
        const r = await run("run-job.sh", env([[`${rx.base}/hook`]], { BACKUP_USAGE_MAX_BYTES: "1" }), ["usage", "usage.sh", "--json"]);
        assert.equal(r.status, 5, r.stderr);
        JSON.parse(r.stdout); // stdout is the probe's JSON, untouched
        assert.equal(rx.requests.length, 1);
        const body = JSON.parse(rx.requests[0].body);
        assert.equal(body.job, "usage");
        assert.match(body.failed, /ALERT/);
    });
});
