// Backups that never fail silently, on a real Docker daemon: notifications to
// a webhook receiver (busybox httpd + a CGI script that records each request)
// on an internal Docker network, the backup container's health, and metrics.
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BackupSpec, NotifySpec, PersistentStackArgs } from "../../components";
import { docker, removeByLabel, requireDocker, TEST_IMAGE } from "../helpers/docker";
import { EngineStack, engineSuite, idleContainer } from "../helpers/engine";

const RESTIC_IMAGE = process.env.PDS_RESTIC_IMAGE ?? "pds-test/restic:latest";
const OPS_IMAGE = process.env.PDS_OPS_IMAGE ?? "pds-test/ops:latest";

/** The receiver's CGI script: one file per request (URI, ntfy title, body); /cgi-bin/fail answers 500. */
const cgi = [
    "#!/bin/sh",
    "f=/data/req-$(date +%s)-$$",
    'body=$(head -c "${CONTENT_LENGTH:-0}")',
    'printf "uri=%s\\ntitle=%s\\n\\n%s\\n" "$REQUEST_URI" "${HTTP_TITLE:-}" "$body" > "$f.tmp" && mv "$f.tmp" "$f"',
    'case "$REQUEST_URI" in *fail*) printf "Status: 500 Internal Server Error\\r\\n\\r\\n" ;; *) printf "Content-Type: text/plain\\r\\n\\r\\nok\\n" ;; esac',
    "",
].join("\n");

interface Request {
    uri: string;
    title: string;
    body: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) {
            return value;
        }
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
        await sleep(1000);
    }
}

describe("notifications, health and metrics on a real Docker engine", function () {
    const { newStack, tempDir } = engineSuite();
    const id = randomBytes(3).toString("hex");
    const label = `pds.test.notify=${id}`;
    const net = `pds-notify-${id}`;
    const receiver = `pds-notify-rx-${id}`;
    const hook = (p = "hook") => `http://${receiver}:8080/cgi-bin/${p}`;

    /** Requests the receiver got whose URI contains `tag`, oldest first. */
    async function received(tag: string): Promise<Request[]> {
        const r = await docker(["exec", receiver, "sh", "-c", 'for f in $(ls /data | sort); do cat "/data/$f"; printf "\\036"; done']);
        return r.stdout
            .split("\u001e")
            .filter((s) => s.trim())
            .map((raw) => {
                const [head, ...body] = raw.replace(/^\n+/, "").split("\n\n");
                const field = (k: string) => head.match(new RegExp(`^${k}=(.*)$`, "m"))?.[1] ?? "";
                return { uri: field("uri"), title: field("title"), body: body.join("\n\n").trim() };
            })
            .filter((q) => q.uri.includes(tag));
    }

    const backupNow = (s: EngineStack) => docker(["exec", s.name("backup"), "backup-now"], { allowFail: true });
    const status = async (s: EngineStack) => JSON.parse((await docker(["exec", s.name("backup"), "status"])).stdout);
    const health = async (s: EngineStack) => (await docker(["inspect", "-f", "{{.State.Health.Status}}", s.name("backup")])).stdout.trim();

    /** A stack with an app container on `data`, backed up into `backups`, notifying the receiver. */
    function stackArgs(
        tag: string,
        backup: Partial<BackupSpec> = {},
        notify: Partial<NotifySpec> = {},
        extra: Partial<PersistentStackArgs> = {},
    ) {
        return {
            protection: { retainOnDelete: false },
            volumes: { data: {}, backups: {} },
            containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
            backup: {
                volumes: ["data"],
                targetVolume: "backups",
                image: TEST_IMAGE,
                pull: false,
                lockTimeoutSeconds: 60,
                notify: [{ url: hook(`hook?${tag}`), network: net, ...notify }],
                ...backup,
            },
            ...extra,
        } as PersistentStackArgs;
    }

    before(async function () {
        await requireDocker(this);
        await docker(["network", "create", "--internal", "--label", label, net]);
        await docker([
            "run",
            "-d",
            "--name",
            receiver,
            "--label",
            label,
            "--network",
            net,
            "-e",
            `CGI=${cgi}`,
            TEST_IMAGE,
            "sh",
            "-c",
            'mkdir -p /www/cgi-bin /data && printf "%s" "$CGI" > /www/cgi-bin/hook && cp /www/cgi-bin/hook /www/cgi-bin/fail && chmod +x /www/cgi-bin/* && exec httpd -f -p 8080 -h /www',
        ]);
    });

    after(async () => {
        await removeByLabel(label);
    });

    it("notifies a failure of backup-now on a full target, naming the volume and the reason, and reports it in status", async () => {
        const s = newStack("full");
        await s.up(
            stackArgs(
                "full",
                { onDeploy: false },
                {},
                { volumes: { data: {}, backups: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" } } } },
            ),
        );
        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1k count=2048 2>/dev/null");
        const run = await backupNow(s);
        assert.equal(run.code, 1, run.stderr);
        const [req] = await received("full");
        const body = JSON.parse(req.body);
        assert.equal(body.event, "failure");
        assert.equal(body.stack, s.name("").slice(0, -1));
        assert.deepEqual(body.volumes, ["data"]);
        assert.equal(body.trigger, "backup-now");
        assert.match(body.failed, /volume data: .*(free|fit|space)/i);
        assert.ok(!req.body.includes(hook()), "the URL is not in the body");
        const st = await status(s);
        assert.equal(st.healthy, false);
        assert.match(st.volumes.data.lastFailure.reason, /volume data/);
        assert.equal(st.lastNotification.result, "delivered");
        const inspect = (await docker(["inspect", s.name("backup")])).stdout;
        assert.ok(!inspect.includes("cgi-bin"), "no URL in docker inspect");
    });

    it("notifies a failing consistency hook", async function () {
        await requireDocker(this, { image: OPS_IMAGE });
        const s = newStack("hook");
        await s.up(
            stackArgs("failhook", {
                onDeploy: false,
                image: OPS_IMAGE,
                consistency: { data: { preCommands: [{ container: "app", command: ["sh", "-c", "echo dump broke >&2; exit 3"] }] } },
            }),
        );
        const run = await backupNow(s);
        assert.notEqual(run.code, 0);
        const [req] = await received("failhook");
        const body = JSON.parse(req.body);
        assert.equal(body.event, "failure");
        assert.match(body.failed, /volume data: pre hook/);
    });

    it("notifies a wrong restic password", async function () {
        await requireDocker(this, { image: RESTIC_IMAGE });
        const target = tempDir();
        // A repository made with another password.
        await docker([
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            `${target}:/backup`,
            "-e",
            "RESTIC_PASSWORD=other",
            "--entrypoint",
            "restic",
            RESTIC_IMAGE,
            "init",
            "--repo",
            "/backup/restic",
        ]);
        const s = newStack("restic-pw");
        await s.up(
            stackArgs("resticpw", {
                onDeploy: false,
                engine: "restic",
                image: RESTIC_IMAGE,
                targetVolume: undefined,
                targetPath: target,
                restic: { password: "right" },
            }),
        );
        await s.exec("app", "echo x > /data/file");
        const run = await backupNow(s);
        assert.notEqual(run.code, 0);
        const [req] = await received("resticpw");
        const body = JSON.parse(req.body);
        assert.equal(body.engine, "restic");
        assert.match(body.failed, /password|repository/i);
        assert.ok(!req.body.includes("right\n") && !/"right"/.test(req.body));
    });

    it("notifies a success when asked, from the pre-deploy gate too, and writes metrics that match status", async () => {
        const metrics = tempDir();
        const s = newStack("success");
        await s.up(stackArgs("success", { metrics: { hostPath: metrics } }, { on: "success", format: "ntfy" }));
        await s.exec("app", "echo hello > /data/file");
        assert.equal((await backupNow(s)).code, 0);
        const requests = await received("success");
        const last = requests[requests.length - 1];
        assert.match(last.title, /^Backup OK: backup of /);
        assert.match(last.body, /trigger: backup-now/);
        // A change to the app container re-runs the gate, which notifies too (trigger deploy).
        await s.up(
            stackArgs(
                "success",
                { metrics: { hostPath: metrics } },
                { on: "success", format: "ntfy" },
                {
                    containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }], env: { V: "2" } }) },
                },
            ),
        );
        assert.ok(
            (await received("success")).some((q) => /trigger: deploy/.test(q.body)),
            "the gate notified",
        );

        const st = await status(s);
        const text = fs.readFileSync(path.join(metrics, `${s.name("").slice(0, -1)}.prom`), "utf8");
        const sample = (name: string) => {
            const m = new RegExp(`^${name}\\{[^}]*volume="data"[^}]*\\} (\\S+)$`, "m").exec(text);
            assert.ok(m, `${name} in\n${text}`);
            return Number(m[1]);
        };
        for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) {
            assert.match(line, /^pds_backup_[a-z_]+\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\} -?\d+(\.\d+)?$/);
        }
        assert.equal(sample("pds_backup_last_result"), 1);
        assert.equal(sample("pds_backup_last_success_timestamp_seconds"), Date.parse(st.volumes.data.lastSuccess) / 1000);
        assert.equal(sample("pds_backup_last_bytes"), st.volumes.data.newestBackup.bytes);
    });

    it("notifies a pre-deploy gate whose container never starts (its image is gone), from the host", async () => {
        // The job image under a tag of its own, removed after the first deployment:
        // the gate's `docker run --pull never` then fails before any script runs.
        const image = `pds-test/gone-${id}:latest`;
        await docker(["tag", TEST_IMAGE, image]);
        const ip = (await docker(["inspect", "-f", `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, receiver])).stdout.trim();
        const s = newStack("gone");
        // The host reaches the receiver by its address on the network; jobs that run join that network.
        const args = (v: string) =>
            ({
                ...stackArgs("gone", { image }),
                containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }], env: { V: v } }) },
                backup: { ...stackArgs("gone", { image }).backup!, notify: [{ url: `http://${ip}:8080/cgi-bin/hook?gone`, network: net }] },
            }) as PersistentStackArgs;
        try {
            await s.up(args("1"));
            await s.exec("app", "echo kept > /data/file");
            await docker(["rmi", image]);
            await assert.rejects(s.up(args("2")), /predeploy-app/);
            const [req] = await received("gone");
            const body = JSON.parse(req.body);
            assert.equal(body.event, "failure");
            assert.equal(body.trigger, "deploy");
            assert.equal(body.exitCode, 125);
            assert.match(body.failed, /did not start \(docker run exited 125\): .*No such image: pds-test\/gone-/);
            assert.equal((await s.exec("app", "cat /data/file")).stdout.trim(), "kept", "the app container was not replaced");
        } finally {
            await docker(["tag", TEST_IMAGE, image]);
        }
    });

    it("notifies the final backup on destroy", async () => {
        const s = newStack("destroy");
        await s.up(stackArgs("destroy", { onDeploy: false, onDestroy: true }, { on: "always" }));
        await s.exec("app", "echo last words > /data/file");
        await s.destroy();
        const requests = await received("destroy");
        assert.equal(requests.length, 1);
        const body = JSON.parse(requests[0].body);
        assert.equal(body.trigger, "destroy");
        assert.equal(body.event, "success");
    });

    it("turns unhealthy after a failed scheduled run, and healthy again after a good one", async function () {
        this.timeout(400_000);
        const s = newStack("health");
        await s.up(
            stackArgs(
                "health",
                { onDeploy: false, schedule: "* * * * *" },
                {},
                { volumes: { data: {}, backups: { driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" } } } },
            ),
        );
        await s.exec("app", "dd if=/dev/urandom of=/data/big bs=1k count=2048 2>/dev/null");
        await waitFor("unhealthy after a failed scheduled run", 150_000, async () =>
            (await health(s)) === "unhealthy" ? true : undefined,
        );
        const failed = await received("health");
        assert.ok(
            failed.some((q) => JSON.parse(q.body).trigger === "schedule"),
            "the scheduled failure was notified",
        );
        await s.exec("app", "rm /data/big && echo small > /data/file");
        await waitFor("healthy after a good scheduled run", 150_000, async () => ((await health(s)) === "healthy" ? true : undefined));
        assert.equal((await status(s)).volumes.data.lastResult, "success");
    });

    it("turns unhealthy when the newest backup is older than a short maxAge, with no new backup", async function () {
        this.timeout(120_000);
        const s = newStack("maxage");
        await s.up(stackArgs("maxage", { onDeploy: false, maxAge: "20s" }));
        await s.exec("app", "echo x > /data/file");
        assert.equal((await backupNow(s)).code, 0);
        await waitFor("healthy after a good backup", 30_000, async () => ((await health(s)) === "healthy" ? true : undefined));
        await waitFor("unhealthy once the backup is older than 20s", 60_000, async () =>
            (await health(s)) === "unhealthy" ? true : undefined,
        );
        const st = await status(s);
        assert.match(st.problems.join("\n"), /volume data: newest good backup is \d+s old \(maxAge 20s\)/);
    });
});
