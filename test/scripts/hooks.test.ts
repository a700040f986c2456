// Consistency hooks (hooks.sh, through backup.sh) with a fake `docker` on PATH
// that records every call: stop/pause around the archive, start again also on
// failure, pre/post commands, timeouts and onError.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runScript, Sandbox, T, wrappedToolDir } from "./helpers";

/** A tool dir with busybox, zstd and a fake docker that logs its arguments. */
function fakeDockerTools(sb: Sandbox): { pathDir: string; calls: () => string[] } {
    const log = path.join(sb.root, "docker.log");
    fs.writeFileSync(log, "");
    const dir = wrappedToolDir(sb.root, {
        docker: [
            `echo "$*" >> ${log}`,
            'case "$1" in',
            '  inspect) case "$4" in *missing*) exit 1 ;; esac; case "$3" in *Paused*) echo "true false" ;; *) echo true ;; esac ;;',
            '  exec) shift 2; case "$*" in *fail*) exit 3 ;; *slow*) sleep 5 ;; esac ;;',
            "esac",
            "exit 0",
            "",
        ].join("\n"),
    });
    return {
        pathDir: dir,
        calls: () =>
            fs
                .readFileSync(log, "utf8")
                .split("\n")
                .filter((l) => l && !l.startsWith("version") && !l.startsWith("inspect")),
    };
}

describe("consistency hooks (hooks.sh)", () => {
    let sb: Sandbox;
    let docker: ReturnType<typeof fakeDockerTools>;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("pgdata", { PG_VERSION: "16" });
        sb.volume("uploads", { "a.jpg": "img" });
        docker = fakeDockerTools(sb);
    });
    afterEach(() => sb.cleanup());

    const hook = (i: number, phase: string, command: string, extra: Record<string, string> = {}) => ({
        BACKUP_HOOKS: String(i),
        [`BACKUP_HOOK_${i}_VOLUME`]: "pgdata",
        [`BACKUP_HOOK_${i}_PHASE`]: phase,
        [`BACKUP_HOOK_${i}_CONTAINER`]: "prod-db",
        [`BACKUP_HOOK_${i}_COMMAND`]: command,
        ...extra,
    });
    const run = (env: Record<string, string>) =>
        runScript("backup.sh", sb.env({ BACKUP_TIMESTAMP: T(0), ...env }), [], { pathDir: docker.pathDir });

    it("runs pre hooks, stops the volume's containers, archives, starts them, then runs post hooks", () => {
        const r = run({
            BACKUP_STOP: "pgdata:prod-db pgdata:prod-worker",
            ...hook(1, "pre", "sh -c 'pg_dump -U app app > /dump/app.sql'"),
            ...hook(2, "post", "rm -f /dump/app.sql"),
        });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(docker.calls(), [
            "exec prod-db sh -c pg_dump -U app app > /dump/app.sql",
            "stop -t 30 prod-db",
            "stop -t 30 prod-worker",
            "start prod-db",
            "start prod-worker",
            "exec prod-db rm -f /dump/app.sql",
        ]);
        assert.ok(sb.targetFiles().includes(`prod-pgdata-${T(0)}.tar.gz`));
        assert.ok(sb.targetFiles().includes(`prod-uploads-${T(0)}.tar.gz`), "other volumes are backed up without hooks");
    });

    it("pauses and unpauses instead of stopping when asked", () => {
        const r = run({ BACKUP_PAUSE: "pgdata:prod-db" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(docker.calls(), ["pause prod-db", "unpause prod-db"]);
    });

    it("starts the containers again when the backup fails", () => {
        fs.writeFileSync(sb.file(`prod-pgdata-${T(0)}.tar.gz`), "taken");
        const r = run({ BACKUP_STOP: "pgdata:prod-db" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /volume pgdata: .*already exists/);
        assert.deepEqual(docker.calls(), ["stop -t 30 prod-db", "start prod-db"]);
    });

    it("fails the volume when a pre hook fails, before stopping anything", () => {
        const r = run({ BACKUP_STOP: "pgdata:prod-db", ...hook(1, "pre", "sh -c fail") });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^backup\.sh: error: volume pgdata: pre hook in prod-db exited 3$/m);
        assert.match(r.stderr, /backup failed for volume\(s\): pgdata/);
        assert.deepEqual(docker.calls(), ["exec prod-db sh -c fail"]);
        assert.ok(!sb.targetFiles().some((f) => f.startsWith("prod-pgdata-")));
    });

    it("goes on after a failing hook with onError continue", () => {
        const r = run(hook(1, "pre", "sh -c fail", { BACKUP_HOOK_1_ON_ERROR: "continue" }));
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /warning: volume pgdata: pre hook in prod-db exited 3; continuing/);
        assert.ok(sb.targetFiles().includes(`prod-pgdata-${T(0)}.tar.gz`));
    });

    it("kills a hook that outlives its timeout", () => {
        const r = run(hook(1, "pre", "sh -c slow", { BACKUP_HOOK_1_TIMEOUT: "1" }));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /volume pgdata: pre hook in prod-db timed out after 1s/);
    });

    it("skips a hook whose container is not running (e.g. before the first deploy)", () => {
        const r = run(hook(1, "pre", "sh -c fail", { BACKUP_HOOK_1_CONTAINER: "prod-missing" }));
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /warning: volume pgdata: pre hook skipped: container prod-missing is not running/);
        assert.deepEqual(docker.calls(), []);
    });

    it("refuses to start without a reachable Docker when hooks are configured", () => {
        const r = runScript("backup.sh", sb.env({ BACKUP_STOP: "pgdata:prod-db" }));
        assert.equal(r.status, 2);
        assert.match(r.stderr, /'docker' not found on PATH/);
    });
});

/** The "Capacity" column of `df -P` for the filesystem holding `dir`, without the %. */
function dfPercent(dir: string): number {
    const df = spawnSync("busybox", ["df", "-Pk", dir], { encoding: "utf8" });
    assert.equal(df.status, 0, df.stderr);
    return Number(df.stdout.split("\n")[1].split(/\s+/)[4].replace("%", ""));
}

describe("disk usage (usage.sh, backup.sh)", () => {
    let sb: Sandbox;
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("pgdata", { "data.bin": Buffer.alloc(300 * 1024, 7) });
    });
    afterEach(() => sb.cleanup());

    it("reports each volume and the target as JSON", () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        const r = sb.run("usage.sh", {}, ["--json"]);
        assert.equal(r.status, 0, r.stderr);
        const usage = JSON.parse(r.stdout);
        assert.ok(usage.volumes.pgdata.bytes >= 300 * 1024);
        assert.equal(usage.volumes.pgdata.filesystemPercent, dfPercent(path.join(sb.sources, "pgdata")));
        assert.equal(usage.target.filesystemPercent, dfPercent(sb.target));
        const archived = sb.targetFiles().filter((n) => n.startsWith("prod-"));
        assert.equal(archived.length, 3, "an archive and its two sidecars");
        assert.equal(
            usage.target.bytes,
            archived.reduce((sum, n) => sum + fs.statSync(sb.file(n)).size, 0),
            "the archives and sidecars are counted",
        );
        assert.ok(usage.target.availableBytes > 0);
        assert.equal(usage.alerts, 0);
    });

    it("reports loudly and exits 5 when a volume is over its size limit", () => {
        const r = sb.run("usage.sh", { BACKUP_USAGE_MAX_BYTES: String(100 * 1024) });
        assert.equal(r.status, 5);
        assert.match(
            r.stderr,
            /^usage\.sh: error: ALERT volume pgdata holds .* over the limit of 100\.0 KiB \(diskUsage\.maxVolumeSize\)$/m,
        );
    });

    it("logs usage after every backup and fails the run when a threshold is exceeded", () => {
        const ok = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(0) });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stderr, /usage: volume pgdata: /);
        assert.match(ok.stderr, /usage: target .*: .* of archives; filesystem \d+% full/);
        const alert = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(1), BACKUP_USAGE_MAX_PERCENT: "1" });
        assert.equal(alert.status, 5);
        assert.match(alert.stderr, /ALERT the filesystem of volume pgdata is \d+% full, over 1% \(diskUsage\.maxPercent\)/);
        assert.ok(sb.targetFiles().includes(`prod-pgdata-${T(1)}.tar.gz`), "the archive is still written");
    });
});

describe("the restore command (restore-volume.sh)", () => {
    let sb: Sandbox;
    beforeEach(() => (sb = new Sandbox("prod")));
    afterEach(() => sb.cleanup());

    it("explains its usage", () => {
        const r = sb.run("restore-volume.sh", {}, ["latest"]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /usage: restore <archive file name \| latest> <volume key> \[--force\]/);
    });

    it("points restic users to restores through config", () => {
        const r = sb.run("restore-volume.sh", { BACKUP_ENGINE: "restic" }, ["latest", "data"]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /restore restic snapshots through config \(restores: in the stack\)/);
    });

    it("needs the docker CLI in the job image, and says so", () => {
        const r = sb.run("restore-volume.sh", {}, ["latest", "data"]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^restore-volume\.sh: error: 'docker' not found on PATH \(the docker CLI/m);
    });

    it("needs the Docker socket, and says how to get it", () => {
        const noDaemon = wrappedToolDir(sb.root, { docker: "echo 'Cannot connect to the Docker daemon' >&2\nexit 1\n" });
        const r = sb.run("restore-volume.sh", {}, ["latest", "data"], { pathDir: noDaemon });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^restore-volume\.sh: error: restore needs the Docker socket: set backup\.restoreCommand: true/m);
    });
});
