// The host side of a one-shot job (jobs.ts withHostNotify, host-notify.sh): a
// job whose `docker run` fails before run-job.sh reports (the container never
// started, or was killed) is notified from the machine that runs `pulumi`,
// with the body run-job.sh would have sent. A fake `docker` on PATH plays the
// engine; the command runs under the host's /bin/sh as the command provider
// runs it, delivering with the host's curl, or node where there is no curl.
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { jobCommand, JobRun, withHostNotify } from "../../components/backup/jobs";
import { finished, RunResult } from "./helpers";

interface Received {
    url: string;
    body: string;
}

const fakeDocker = `#!/bin/sh
# A stand-in for the docker CLI: FAKE_DOCKER says what the engine does.
cat > /dev/null
case "$FAKE_DOCKER" in
missing)
    echo "docker: Error response from daemon: No such image: pds-test/nope:latest." >&2
    echo "See 'docker run --help'." >&2
    exit 125 ;;
reported)
    echo "backup.sh: error: volume db: disk full" >&2
    echo "run-job.sh: reported: recorded and notified" >&2
    exit 1 ;;
killed)
    echo "backup.sh: volume db: archiving" >&2
    exit 137 ;;
ok)
    echo "created shop-prod-db-20261202T000000Z.tar.gz"
    echo "run-job.sh: reported: recorded and notified" >&2
    exit 0 ;;
esac
exit 99
`;

/** A directory of the host's tools, with `docker` faked and without `without`. */
function hostTools(root: string, without: string[] = []): string {
    const dir = path.join(root, `bin-${without.join("-") || "all"}`);
    fs.mkdirSync(dir);
    const tools = [
        "sh",
        "mktemp",
        "rm",
        "date",
        "tee",
        "cat",
        "grep",
        "mkdir",
        "base64",
        "dirname",
        "sed",
        "awk",
        "tail",
        "head",
        "tr",
        "sleep",
        "timeout",
        "curl",
        "wget",
        "node",
    ];
    for (const tool of tools.filter((t) => !without.includes(t))) {
        const found = (process.env.PATH ?? "/usr/bin:/bin")
            .split(":")
            .map((d) => path.join(d, tool))
            .find((p) => fs.existsSync(p));
        if (found) fs.symlinkSync(found, path.join(dir, tool));
    }
    fs.writeFileSync(path.join(dir, "docker"), fakeDocker, { mode: 0o755 });
    return dir;
}

describe("one-shot jobs that fail before reporting: notified from the host (host-notify.sh)", function () {
    this.timeout(30_000);
    let root: string;
    let server: http.Server;
    let base: string;
    let requests: Received[];

    before(async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-host-notify-"));
        server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (d: Buffer) => (body += d.toString()));
            req.on("end", () => {
                requests.push({ url: req.url ?? "", body });
                res.end("ok");
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    beforeEach(() => (requests = []));
    after(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        fs.rmSync(root, { recursive: true, force: true });
    });

    /** The gate's job: two targets (failures; successes), the URLs as secret files. */
    const job = (): JobRun => ({
        image: "pds-test/nope:latest",
        env: {
            BACKUP_STACK_NAME: "shop-prod",
            BACKUP_PREFIX: "shop-prod",
            BACKUP_NOTIFY_COUNT: "2",
            BACKUP_NOTIFY_1_ON: "failure",
            BACKUP_NOTIFY_1_FORMAT: "json",
            BACKUP_NOTIFY_2_ON: "success",
            BACKUP_NOTIFY_2_FORMAT: "json",
        },
        mounts: [{ type: "volume", source: "shop-prod-db", target: "/sources/db", readOnly: true }],
        labels: {},
        script: "backup.sh",
        trigger: "deploy",
        secretFiles: [
            { path: "/run/pds/restic-password", content: "p4ssw0rd" },
            { path: "/run/pds/notify/1", content: `${base}/failure/s3cr3t-t0ken` },
            { path: "/run/pds/notify/2", content: `${base}/success/s3cr3t-t0ken` },
        ],
        secretEnv: {},
    });

    async function runJob(mode: string, without: string[] = []): Promise<RunResult> {
        const { command, environment } = jobCommand(job());
        const [cmd, env] = await new Promise<[string, Record<string, string>]>((resolve) =>
            pulumi.all([command, pulumi.output(environment)]).apply(([c, e]) => resolve([c, e as Record<string, string>])),
        );
        const tmp = fs.mkdtempSync(path.join(root, "tmp-"));
        const r = await finished(
            spawn("/bin/sh", ["-c", cmd], {
                env: { PATH: hostTools(tmp, without), TMPDIR: tmp, FAKE_DOCKER: mode, ...env },
                stdio: ["ignore", "pipe", "pipe"],
            }),
        );
        assert.deepEqual(
            fs.readdirSync(tmp).filter((f) => f.startsWith("pds-job")),
            [],
            "the temporary directory is removed",
        );
        return r;
    }

    it("notifies a job whose container did not start, with docker's error, and keeps the exit code", async () => {
        const r = await runJob("missing");
        assert.equal(r.status, 125);
        assert.match(r.stderr, /No such image: pds-test\/nope:latest/, "docker's error passes through");
        assert.match(r.stderr, /host-notify\.sh: notification: target 1 \(json\): delivered/);
        assert.deepEqual(
            requests.map((q) => q.url),
            ["/failure/s3cr3t-t0ken"],
            "only the target whose `on` includes failures",
        );
        const body = JSON.parse(requests[0].body);
        assert.equal(body.event, "failure");
        assert.equal(body.stack, "shop-prod");
        assert.equal(body.trigger, "deploy");
        assert.equal(body.job, "backup");
        assert.deepEqual(body.volumes, ["db"]);
        assert.equal(body.exitCode, 125);
        assert.match(body.failed, /did not start \(docker run exited 125\): docker: Error response from daemon: No such image/);
        assert.ok(!requests[0].body.includes("s3cr3t") && !r.stderr.includes("s3cr3t"), "no URL in the body or the log");
        assert.ok(!requests[0].body.includes("p4ssw0rd"));
    });

    it("notifies a container killed before it reported (exit 137, signal 9)", async () => {
        const r = await runJob("killed");
        assert.equal(r.status, 137);
        assert.equal(requests.length, 1);
        assert.match(JSON.parse(requests[0].body).failed, /ended before reporting \(exit 137, signal 9\)/);
    });

    it("stays silent when run-job.sh reported (no second notification), and passes stdout through", async () => {
        const failed = await runJob("reported");
        assert.equal(failed.status, 1);
        const ok = await runJob("ok");
        assert.equal(ok.status, 0);
        assert.equal(ok.stdout, "created shop-prod-db-20261202T000000Z.tar.gz\n");
        assert.deepEqual(requests, []);
    });

    it("delivers with node where the host has no curl or wget", async () => {
        const r = await runJob("missing", ["curl", "wget"]);
        assert.equal(r.status, 125);
        assert.match(r.stderr, /target 1 \(json\): delivered/);
        assert.equal(JSON.parse(requests[0].body).exitCode, 125);
    });

    it("wraps only jobs that notify: a job with a trigger and at least one target", async () => {
        assert.match(withHostNotify("docker run x", job()), /^pds_job\(\) \{\ndocker run x\n\}\n/);
        const text = (c: ReturnType<typeof jobCommand>) => new Promise<string>((resolve) => c.command.apply(resolve));
        assert.match(await text(jobCommand(job())), /host-notify\.sh/);
        assert.doesNotMatch(await text(jobCommand({ ...job(), env: {}, secretFiles: [] })), /host-notify\.sh/, "no target");
        assert.doesNotMatch(await text(jobCommand({ ...job(), trigger: undefined })), /host-notify\.sh/, "a restore");
    });
});
