import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PersistentStack, PersistentStackArgs, validateStackArgs } from "../../components";
import { parseDiskUsage } from "../../components/backup/usage";
import { loadStackArgs } from "../../components/config/stackConfig";
import { dockerRunCommand, shellQuote } from "../../components/backup/plan";
import { JobRun, withHostNotify } from "../../components/backup/jobs";
import { commands, jobScripts, scriptBundle, scriptsNeeded, scriptUploads, withoutComments } from "../../components/backup/scripts";
import { isSecret, promiseOf, RecordedResource, recordProgram } from "../helpers/pulumiMocks";
import { types } from "../helpers/stacks";

const args = (extra: Partial<PersistentStackArgs> = {}): PersistentStackArgs => ({
    volumes: { pgdata: {}, uploads: {}, backups: {} },
    containers: {
        db: { image: "postgres:16", mounts: [{ type: "volume", volume: "pgdata", target: "/var/lib/postgresql/data" }] },
        web: { image: "nginx:1.27", mounts: [{ type: "volume", volume: "uploads", target: "/uploads" }] },
        cache: { image: "redis:7", mounts: [{ type: "tmpfs", target: "/data" }] },
    },
    backup: { volumes: ["pgdata", "uploads"], targetVolume: "backups", schedule: "15 3 * * *", onDestroy: true },
    restores: [{ volume: "pgdata", from: "latest", prefix: "shop-prod" }],
    ...extra,
});

async function record(a: PersistentStackArgs) {
    return recordProgram(() => void new PersistentStack("shop", a), { project: "shop", stack: "staging" });
}

const byName = (resources: RecordedResource[], name: string) => {
    const found = resources.find((r) => r.name === name);
    assert.ok(found, `no resource ${name}; have ${resources.map((r) => r.name).join(", ")}`);
    return found;
};

describe("backup jobs", () => {
    let resources: RecordedResource[];
    before(async () => {
        resources = (await record(args())).resources;
    });

    it("runs a long-running backup container with no network and read-only sources", () => {
        const job = byName(resources, "shop-backup");
        assert.strictEqual(job.type, types.container);
        assert.strictEqual(job.inputs.name, "shop-staging-backup");
        assert.strictEqual(job.inputs.networkMode, "none");
        assert.strictEqual(job.inputs.networksAdvanced, undefined);
        assert.deepStrictEqual(job.inputs.mounts, [
            { type: "volume", source: "shop-staging-pgdata", target: "/sources/pgdata", readOnly: true },
            { type: "volume", source: "shop-staging-uploads", target: "/sources/uploads", readOnly: true },
            { type: "volume", source: "shop-staging-backups", target: "/backup", readOnly: false },
        ]);
        assert.ok(!JSON.stringify(job.inputs.mounts).includes("docker.sock"), "no Docker socket");
        assert.ok(job.inputs.envs.includes("BACKUP_SCHEDULE=15 3 * * *"));
        assert.ok(job.inputs.envs.includes("BACKUP_PREFIX=shop-staging"));
        assert.deepStrictEqual(job.inputs.entrypoints, ["sh"]);
        assert.deepStrictEqual(job.inputs.command, ["/usr/local/lib/pds/scheduler.sh"]);
    });

    it("installs every job script and the backup-now, verify, status, list, prune, usage and restore commands", () => {
        const job = byName(resources, "shop-backup");
        const files: string[] = job.inputs.uploads.map((u: any) => u.file);
        for (const script of Object.keys(jobScripts())) {
            assert.ok(files.includes(`/usr/local/lib/pds/${script}`), script);
        }
        assert.deepStrictEqual(files.filter((f) => f.startsWith("/usr/local/bin/")).sort(), [
            "/usr/local/bin/backup-now",
            "/usr/local/bin/list",
            "/usr/local/bin/prune",
            "/usr/local/bin/restore",
            "/usr/local/bin/status",
            "/usr/local/bin/usage",
            "/usr/local/bin/verify",
        ]);
    });

    it("backs up before replacing a container that mounts a backed-up volume, and gates on it", () => {
        const db = byName(resources, "shop-ctr-db");
        const gate = byName(resources, "shop-predeploy-db");
        assert.strictEqual(gate.type, types.command);
        assert.ok(db.options.dependsOn.includes(gate.urn), "db waits for its pre-deploy backup");
        assert.match(gate.inputs.create, /^docker run --rm -i --pull never --network none /);
        assert.match(gate.inputs.create, /--env BACKUP_VOLUMES=pgdata /);
        assert.match(gate.inputs.create, /--env BACKUP_SKIP_EMPTY=true/);
        assert.match(gate.inputs.create, /--mount type=volume,source=shop-staging-pgdata,target=\/sources\/pgdata,readonly/);
        assert.ok(!gate.inputs.create.includes("/sources/uploads"), "only the volumes this container mounts");
        assert.strictEqual(gate.inputs.update, "true", "a new script version does not re-run it");
        assert.strictEqual(gate.inputs.triggers.length, 1);
        assert.match(gate.inputs.triggers[0], /^[0-9a-f]{64}$/);
    });

    it("adds no pre-deploy backup for containers without backed-up volumes", () => {
        assert.ok(!resources.some((r) => r.name === "shop-predeploy-cache"));
    });

    it("restores before the containers that mount the volume start", () => {
        const restore = byName(resources, "shop-restore-pgdata");
        const db = byName(resources, "shop-ctr-db");
        const gate = byName(resources, "shop-predeploy-db");
        assert.ok(db.options.dependsOn.includes(restore.urn));
        assert.ok(gate.options.dependsOn.includes(restore.urn), "the pre-deploy backup runs after the restore");
        assert.match(restore.inputs.create, /--mount type=volume,source=shop-staging-pgdata,target=\/restore /);
        assert.match(restore.inputs.create, /--mount type=volume,source=shop-staging-backups,target=\/backup,readonly/);
        assert.match(restore.inputs.create, /--env BACKUP_PREFIX=shop-prod/);
        assert.match(restore.inputs.create, /--env RESTORE_FORCE=false/);
        assert.match(restore.inputs.create, /exec sh \/usr\/local\/lib\/pds\/restore\.sh\nPDS_BUNDLE\n$/);
        assert.deepStrictEqual(restore.inputs.triggers, ["shop-staging-pgdata", "shop-prod", "pgdata", "latest", "false"]);
    });

    it("takes a final backup on destroy after the containers are gone", () => {
        const final = byName(resources, "shop-final-backup");
        assert.strictEqual(final.inputs.create, "true");
        assert.match(final.inputs.delete, /--env 'BACKUP_VOLUMES=pgdata uploads'/);
        for (const key of ["db", "web", "cache"]) {
            assert.ok(byName(resources, `shop-ctr-${key}`).options.dependsOn.includes(final.urn), key);
        }
        for (const key of ["pgdata", "uploads", "backups"]) {
            assert.ok(final.options.dependsOn.includes(byName(resources, `shop-vol-${key}`).urn), key);
        }
    });

    it("pulls the default job image, busybox", () => {
        const image = byName(resources, "shop-img-backup");
        assert.strictEqual(image.inputs.name, "busybox:1.37");
    });

    it("passes DOCKER_HOST to the jobs when the stack targets another engine", async () => {
        const rec = await record(args({ dockerHost: "ssh://deploy@docker-host" }));
        assert.deepStrictEqual(byName(rec.resources, "shop-predeploy-db").inputs.environment, { DOCKER_HOST: "ssh://deploy@docker-host" });
    });

    it("re-runs the pre-deploy backup only when the container would be replaced", async () => {
        const trigger = async (a: PersistentStackArgs) => byName((await record(a)).resources, "shop-predeploy-db").inputs.triggers[0];
        const base = await trigger(args());
        const restartOnly = args();
        restartOnly.containers!.db.restart = "always";
        restartOnly.containers!.db.memoryMb = 512;
        assert.strictEqual(await trigger(restartOnly), base, "restart and memory update in place");
        const newImage = args();
        newImage.containers!.db.image = "postgres:17";
        assert.notStrictEqual(await trigger(newImage), base);
        const newEnv = args();
        newEnv.containers!.db.env = { PGTZ: "UTC" };
        assert.notStrictEqual(await trigger(newEnv), base);
    });

    it("can be turned off per trigger", async () => {
        const rec = await record(args({ backup: { volumes: ["pgdata"], targetPath: "/srv/backups", onDeploy: false } }));
        assert.ok(!rec.resources.some((r) => r.name.includes("predeploy") || r.name.includes("final-backup")));
        assert.deepStrictEqual(byName(rec.resources, "shop-backup").inputs.volumes, [
            { hostPath: "/srv/backups", containerPath: "/backup", readOnly: false },
        ]);
    });
});

describe("backup config validation", () => {
    const cases: Array<[string, any, string]> = [
        [
            "unknown volume",
            { volumes: ["pgdta"], targetPath: "/srv/b" },
            'backup.volumes[0]: unknown volume "pgdta"; declared: pgdata, uploads, backups',
        ],
        ["no target", { volumes: ["pgdata"] }, "backup: set exactly one of targetPath"],
        ["two targets", { volumes: ["pgdata"], targetPath: "/srv/b", targetVolume: "backups" }, "backup: set exactly one of targetPath"],
        ["relative target path", { volumes: ["pgdata"], targetPath: "backups" }, "backup.targetPath: targetPath must be an absolute path"],
        ["system target path", { volumes: ["pgdata"], targetPath: "/etc" }, 'backup.targetPath: "/etc" is a system path'],
        [
            "backup into itself",
            { volumes: ["pgdata"], targetVolume: "pgdata" },
            "backup.targetVolume: a volume cannot be backed up into itself",
        ],
        [
            "unknown compression",
            { volumes: ["pgdata"], targetPath: "/srv/b", compression: "xz" },
            'backup.compression: compression must be "gzip", "zstd" or "none"',
        ],
        [
            "bad cron",
            { volumes: ["pgdata"], targetPath: "/srv/b", schedule: "daily" },
            "backup.schedule: must be a 5-field cron expression",
        ],
        [
            "negative keepLast",
            { volumes: ["pgdata"], targetPath: "/srv/b", keepLast: -1 },
            "backup.keepLast: must be an integer between 0 and 10000",
        ],
        ["unknown engine", { volumes: ["pgdata"], targetPath: "/srv/b", engine: "rsync" }, 'backup.engine: engine must be "tar"'],
        ["typo", { volumes: ["pgdata"], targetPath: "/srv/b", keep_last: 3 }, "backup.keep_last: unknown field"],
    ];
    for (const [what, backup, expected] of cases) {
        it(`rejects ${what}`, () => {
            assert.throws(
                () => validateStackArgs({ ...args(), restores: undefined, backup }),
                (e: Error) => e.message.includes(expected) || assert.fail(e.message),
            );
        });
    }
    const restoreCases: Array<[string, any, string]> = [
        ["a restore into an unknown volume", [{ volume: "pgdat", from: "latest" }], 'restores[0].volume: unknown volume "pgdat"'],
        [
            "a restore from a bad name",
            [{ volume: "pgdata", from: "../etc/passwd" }],
            'restores[0].from: from must be "latest", an archive file name',
        ],
        [
            "two restores into one volume",
            [
                { volume: "pgdata", from: "latest" },
                { volume: "pgdata", from: "latest" },
            ],
            'restores[1].volume: volume "pgdata" is already restored by restores[0]',
        ],
    ];
    for (const [what, restores, expected] of restoreCases) {
        it(`rejects ${what}`, () => {
            assert.throws(
                () => validateStackArgs({ ...args(), restores }),
                (e: Error) => e.message.includes(expected) || assert.fail(e.message),
            );
        });
    }
    it("rejects restores without a backup target", () => {
        assert.throws(() => validateStackArgs({ ...args(), backup: undefined }), /restores\[0\]: restores read from the backup target/);
    });
});

describe("job commands", () => {
    it("quotes every word for the shell", () => {
        assert.strictEqual(shellQuote("plain-word_1.2"), "plain-word_1.2");
        assert.strictEqual(shellQuote("it's here"), `'it'\\''s here'`);
        const cmd = dockerRunCommand({ image: "busybox:1.37", env: { A: "x y" }, mounts: [], labels: { "pds.kind": "backup" } });
        assert.strictEqual(
            cmd,
            "docker run --rm -i --pull never --network none --label pds.kind=backup --env 'A=x y' --entrypoint sh busybox:1.37 -s",
        );
    });

    it("bundles every script into a self-extracting program", () => {
        const bundle = scriptBundle("backup.sh");
        assert.match(bundle, /^set -eu\nmkdir -p \/usr\/local\/lib\/pds\n/);
        assert.match(bundle, /cat > \/usr\/local\/lib\/pds\/lib\.sh <<'PDS_SCRIPT_END'\n/);
        assert.match(bundle, /exec sh \/usr\/local\/lib\/pds\/backup\.sh\n$/);
        assert.throws(() => scriptBundle("nope.sh"), /unknown job script nope\.sh/);
    });

    it("bundles only the scripts a job needs, so the command stays under the 128 KiB argument limit", () => {
        assert.deepStrictEqual(scriptsNeeded("backup.sh"), ["backup.sh", "disk.sh", "hooks.sh", "lib.sh"]);
        assert.deepStrictEqual(scriptsNeeded("run-job.sh", ["deploy", "restic-backup.sh"]), [
            "hooks.sh",
            "lib.sh",
            "notify.sh",
            "restic-backup.sh",
            "restic-lib.sh",
            "run-job.sh",
            "status.sh",
        ]);
        const notifying: JobRun = {
            image: "busybox:1.37",
            env: { BACKUP_NOTIFY_COUNT: "1" },
            mounts: [],
            labels: {},
            script: "restic-backup.sh",
            trigger: "deploy",
            secretFiles: [{ path: "/run/pds/notify/1", content: "https://ntfy.sh/t" }],
        };
        for (const script of ["backup.sh", "restic-backup.sh", "usage.sh"]) {
            const bundle = scriptBundle("run-job.sh", ["deploy", script]);
            // The host side of a notifying job (withHostNotify) comes on top.
            assert.ok(Buffer.byteLength(withHostNotify(bundle, { ...notifying, script })) < 100 * 1024, script);
        }
    });

    it("bundles scripts without their comment lines, which is safe: no here-document or quoted string has a line starting with #", () => {
        assert.strictEqual(withoutComments("#!/bin/sh\n# about\n  # indented\necho a # kept\n"), "#!/bin/sh\necho a # kept\n");
        for (const [name, script] of Object.entries(jobScripts())) {
            assert.deepStrictEqual(hashLinesInsideText(script), [], `${name}: lines that start with # inside a string or here-document`);
        }
        assert.deepStrictEqual(hashLinesInsideText("x='a\n# b'\ncat <<EOF\n# c\nEOF\n# d\n"), [2, 4], "the checker finds them");
    });

    it("uploads wrappers that exec the scripts, backups and checks through run-job.sh (record and notify)", () => {
        const wrapper = scriptUploads().find((u) => u.file === "/usr/local/bin/backup-now")!;
        assert.strictEqual(
            wrapper.content,
            '#!/bin/sh\ncase "${BACKUP_ENGINE:-tar}" in\nrestic) exec sh /usr/local/lib/pds/run-job.sh backup-now restic-backup.sh "$@" ;;\n*) exec sh /usr/local/lib/pds/run-job.sh backup-now backup.sh "$@" ;;\nesac\n',
        );
        assert.strictEqual(
            scriptUploads().find((u) => u.file === "/usr/local/bin/status")!.content,
            '#!/bin/sh\nexec sh /usr/local/lib/pds/status.sh "$@"\n',
        );
    });

    it("uploads every job script, and one executable wrapper per command that execs the tar script, or the restic one under BACKUP_ENGINE=restic (backups and checks through run-job.sh)", () => {
        const expected: Record<string, [string, string]> = {
            "backup-now": ["backup.sh", "restic-backup.sh"],
            verify: ["verify.sh", "restic-check.sh"],
            list: ["list.sh", "restic-list.sh"],
            prune: ["prune.sh", "restic-forget.sh"],
            status: ["status.sh", "status.sh"],
            usage: ["usage.sh", "usage.sh"],
            restore: ["restore-volume.sh", "restore-volume.sh"],
        };
        for (const [name, content] of Object.entries(jobScripts())) {
            assert.deepStrictEqual(
                scriptUploads().find((u) => u.file === `/usr/local/lib/pds/${name}`),
                { file: `/usr/local/lib/pds/${name}`, content, executable: true },
                name,
            );
        }
        const wrappers = scriptUploads().filter((u) => u.file.startsWith("/usr/local/bin/"));
        assert.deepStrictEqual(
            wrappers.map((w) => w.file).sort(),
            Object.keys(expected)
                .map((c) => `/usr/local/bin/${c}`)
                .sort(),
        );
        for (const [command, [tar, restic]] of Object.entries(expected)) {
            assert.ok(tar in jobScripts() && restic in jobScripts(), `${command}: ${tar} and ${restic} are job scripts`);
            const wrapper = wrappers.find((u) => u.file === `/usr/local/bin/${command}`)!;
            assert.strictEqual(wrapper.executable, true, command);
            const runs = (script: string) =>
                `sh /usr/local/lib/pds/${commands[command].trigger ? `run-job.sh ${commands[command].trigger} ` : ""}${script} "$@"`;
            assert.strictEqual(
                wrapper.content,
                tar === restic
                    ? `#!/bin/sh\nexec ${runs(tar)}\n`
                    : `#!/bin/sh\ncase "\${BACKUP_ENGINE:-tar}" in\nrestic) exec ${runs(restic)} ;;\n*) exec ${runs(tar)} ;;\nesac\n`,
                command,
            );
        }
    });
});

describe("consistency hooks, disk usage and the restore command", () => {
    const hooked = (backup: Partial<PersistentStackArgs["backup"]> = {}): PersistentStackArgs =>
        args({
            restores: undefined,
            backup: {
                volumes: ["pgdata", "uploads"],
                targetVolume: "backups",
                onDestroy: true,
                consistency: {
                    pgdata: {
                        stop: true,
                        preCommands: [{ container: "db", command: ["sh", "-c", "pg_dump -U app app > /dump/app.sql"], timeoutSeconds: 60 }],
                        postCommands: [{ container: "db", command: ["rm", "-f", "/dump/app.sql"], onError: "continue" }],
                    },
                    uploads: { pause: true },
                },
                ...backup,
            },
        });

    it("gives the jobs the Docker socket and a docker CLI image only when hooks need them", async () => {
        const rec = await record(hooked());
        const job = byName(rec.resources, "shop-backup");
        assert.deepStrictEqual(job.inputs.volumes, [
            { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock", readOnly: false },
        ]);
        assert.strictEqual(byName(rec.resources, "shop-img-backup").inputs.name, "docker:27-cli");
        assert.match(
            byName(rec.resources, "shop-predeploy-db").inputs.create,
            /--volume \/var\/run\/docker\.sock:\/var\/run\/docker\.sock /,
        );
        assert.match(byName(rec.resources, "shop-final-backup").inputs.delete, /--volume \/var\/run\/docker\.sock:/);
        const plain = await record(args());
        assert.ok(!JSON.stringify(byName(plain.resources, "shop-backup").inputs.mounts).includes("docker.sock"));
        assert.ok(!byName(plain.resources, "shop-predeploy-db").inputs.create.includes("--volume /var/run/docker.sock"));
    });

    it("encodes stop, pause and hook commands for hooks.sh", async () => {
        const envs: string[] = byName((await record(hooked())).resources, "shop-backup").inputs.envs;
        const env = Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        assert.strictEqual(env.BACKUP_STOP, "pgdata:shop-staging-db");
        assert.strictEqual(env.BACKUP_PAUSE, "uploads:shop-staging-web");
        assert.strictEqual(env.BACKUP_HOOKS, "2");
        assert.strictEqual(env.BACKUP_HOOK_1_PHASE, "pre");
        assert.strictEqual(env.BACKUP_HOOK_1_CONTAINER, "shop-staging-db");
        assert.strictEqual(env.BACKUP_HOOK_1_COMMAND, "sh -c 'pg_dump -U app app > /dump/app.sql'");
        assert.strictEqual(env.BACKUP_HOOK_1_TIMEOUT, "60");
        assert.strictEqual(env.BACKUP_HOOK_2_PHASE, "post");
        assert.strictEqual(env.BACKUP_HOOK_2_ON_ERROR, "continue");
        assert.strictEqual(env.BACKUP_VOLUME_NAMES, "pgdata=shop-staging-pgdata uploads=shop-staging-uploads");
        assert.strictEqual(env.BACKUP_TARGET_MOUNT, "type=volume,source=shop-staging-backups,target=/backup");
    });

    it("mounts the socket for the restore command alone when asked", async () => {
        const rec = await record(
            args({ restores: undefined, backup: { volumes: ["pgdata"], targetVolume: "backups", restoreCommand: true } }),
        );
        assert.ok(JSON.stringify(byName(rec.resources, "shop-backup").inputs.volumes).includes("docker.sock"));
        assert.ok(
            !byName(rec.resources, "shop-predeploy-db").inputs.create.includes("--volume /var/run/docker.sock"),
            "backup runs stay without it",
        );
    });

    it("measures disk usage when the probe is created or changed (no time trigger) when diskUsage is set, with thresholds in the environment", async () => {
        const rec = await record(
            args({
                restores: undefined,
                backup: { volumes: ["pgdata"], targetVolume: "backups", diskUsage: { maxPercent: 90, maxVolumeSize: "10g" } },
            }),
        );
        const probe = byName(rec.resources, "shop-usage");
        assert.match(probe.inputs.create, /--env BACKUP_USAGE_MAX_PERCENT=90 /);
        assert.match(probe.inputs.create, /--env BACKUP_USAGE_MAX_BYTES=10737418240 /);
        assert.match(probe.inputs.create, /--mount type=volume,source=shop-staging-backups,target=\/backup,readonly/);
        assert.match(
            probe.inputs.create,
            /sh \/usr\/local\/lib\/pds\/run-job\.sh usage usage\.sh --json \|\| rc=\$\?\ncase "\$rc" in 0\|5\) exit 0/,
        );
        assert.strictEqual(probe.inputs.triggers, undefined, "no time trigger: an unchanged stack previews clean");
        const none = await record(args());
        assert.ok(!none.resources.some((r) => r.name === "shop-usage"));
    });

    it("parses the usage probe's output, and tolerates none", () => {
        assert.deepStrictEqual(parseDiskUsage('noise\n{"volumes":{},"target":{"bytes":1},"alerts":0}\n'), {
            volumes: {},
            target: { bytes: 1 },
            alerts: 0,
        });
        assert.strictEqual(parseDiskUsage(""), undefined);
        assert.strictEqual(parseDiskUsage(undefined), undefined);
        assert.strictEqual(parseDiskUsage("not json"), undefined);
    });

    const invalid: Array<[string, any, string]> = [
        [
            "consistency of a volume not backed up",
            { consistency: { backups: { stop: true } } },
            'backup.consistency.backups: volume "backups" is not backed up',
        ],
        [
            "a hook in an unknown container",
            { consistency: { pgdata: { preCommands: [{ container: "dbb", command: ["true"] }] } } },
            'backup.consistency.pgdata.preCommands[0].container: unknown container "dbb"',
        ],
        [
            "stop and pause together",
            { consistency: { pgdata: { stop: true, pause: true } } },
            "backup.consistency.pgdata.pause: choose stop or pause, not both",
        ],
        [
            "an empty hook command",
            { consistency: { pgdata: { preCommands: [{ container: "db", command: [] }] } } },
            "backup.consistency.pgdata.preCommands[0].command: command needs at least one word",
        ],
        [
            "a bad onError",
            { consistency: { pgdata: { postCommands: [{ container: "db", command: ["true"], onError: "ignore" }] } } },
            'onError must be "fail" or "continue"',
        ],
        ["a bad maxPercent", { diskUsage: { maxPercent: 150 } }, "backup.diskUsage.maxPercent: must be an integer between 1 and 100"],
        [
            "a garbage maxVolumeSize",
            { diskUsage: { maxVolumeSize: "big" } },
            "backup.diskUsage.maxVolumeSize: maxVolumeSize must be a positive number of bytes",
        ],
    ];
    for (const [what, extra, expected] of invalid) {
        it(`rejects ${what}`, () => {
            assert.throws(
                () =>
                    validateStackArgs({
                        ...args(),
                        restores: undefined,
                        backup: { volumes: ["pgdata", "uploads"], targetVolume: "backups", ...extra },
                    }),
                (e: Error) => e.message.includes(expected) || assert.fail(e.message),
            );
        });
    }
});

describe("the restic engine", () => {
    const resticArgs = (restic: Record<string, unknown> = {}, backup: Record<string, unknown> = {}): PersistentStackArgs =>
        args({
            restores: [{ volume: "pgdata", from: "latest" }],
            backup: {
                volumes: ["pgdata", "uploads"],
                targetVolume: "backups",
                engine: "restic",
                onDestroy: true,
                restic: { password: pulumi.secret("correct horse"), keepDaily: 7, keepWeekly: 4, checkSchedule: "0 5 * * 0", ...restic },
                ...backup,
            } as any,
        });

    it("runs the official restic image with the repository on the backup target", async () => {
        const rec = await record(resticArgs());
        assert.strictEqual(byName(rec.resources, "shop-img-backup").inputs.name, "restic/restic:0.18.0");
        const envs: string[] = byName(rec.resources, "shop-backup").inputs.envs;
        for (const e of [
            "BACKUP_ENGINE=restic",
            "RESTIC_REPOSITORY=/backup/restic",
            "RESTIC_PASSWORD_FILE=/run/pds/restic-password",
            "BACKUP_KEEP_DAILY=7",
            "BACKUP_KEEP_WEEKLY=4",
            "BACKUP_CHECK_SCHEDULE=0 5 * * 0",
            "BACKUP_CHECK_SUBSET=5%",
        ]) {
            assert.ok(envs.includes(e), e);
        }
        assert.strictEqual(byName(rec.resources, "shop-backup").inputs.networkMode, "none");
    });

    it("keeps the password out of labels, arguments and the container environment", async () => {
        const rec = await record(resticArgs());
        const job = byName(rec.resources, "shop-backup");
        assert.ok(!JSON.stringify(job.inputs.envs).includes("correct horse"));
        assert.ok(!JSON.stringify(job.inputs.labels).includes("correct horse"));
        const upload = job.inputs.uploads.find((u: any) => u.file === "/run/pds/restic-password");
        assert.strictEqual(upload.content, "correct horse");
        assert.ok(job.secretInputs.includes("uploads"), "the uploaded password stays secret in state");
        for (const name of ["shop-predeploy-db", "shop-restore-pgdata"]) {
            const cmd = byName(rec.resources, name);
            assert.ok(
                !cmd.inputs.create.includes("correct horse") &&
                    !cmd.inputs.create.includes(Buffer.from("correct horse").toString("base64")),
                name,
            );
            assert.strictEqual(cmd.inputs.environment.PDS_SECRET_1, Buffer.from("correct horse").toString("base64"));
            assert.ok(cmd.secretInputs.includes("environment"), `${name}: environment is secret`);
            assert.match(cmd.inputs.create, /^\{ printf '%s\\n' "\$PDS_SECRET_1"; cat <<'PDS_BUNDLE'\n/);
            assert.match(
                cmd.inputs.create,
                /--entrypoint sh restic\/restic:0\.18\.0 -c 'set -eu; umask 077; for f in \/run\/pds\/restic-password; do/,
            );
        }
        assert.match(
            byName(rec.resources, "shop-predeploy-db").inputs.create,
            /exec sh \/usr\/local\/lib\/pds\/run-job\.sh deploy restic-backup\.sh\n/,
        );
        assert.match(byName(rec.resources, "shop-restore-pgdata").inputs.create, /exec sh \/usr\/local\/lib\/pds\/restic-restore\.sh\n/);
        assert.match(
            byName(rec.resources, "shop-restore-pgdata").inputs.create,
            /--mount type=volume,source=shop-staging-backups,target=\/backup /,
            "restic locks the repository: read-write",
        );
    });

    it("reaches a remote sftp repository through a network, with the key as a secret file and an ssh config", async () => {
        const rec = await record(
            resticArgs(
                {
                    repository: "sftp:backup@backup-host:/srv/restic",
                    sshKey: pulumi.secret("-----BEGIN KEY-----\nabc\n-----END KEY-----\n"),
                    network: "backupnet",
                },
                {
                    targetVolume: undefined,
                },
            ),
        );
        const job = byName(rec.resources, "shop-backup");
        assert.strictEqual(job.inputs.networkMode, "backupnet");
        assert.ok(!job.inputs.mounts.some((m: any) => m.target === "/backup"), "no local target");
        const files = job.inputs.uploads.map((u: any) => u.file);
        assert.ok(files.includes("/run/pds/ssh/id_ed25519") && files.includes("/etc/ssh/ssh_config"));
        const gate = byName(rec.resources, "shop-predeploy-db");
        assert.match(gate.inputs.create, /--network backupnet /);
        assert.match(gate.inputs.create, /for f in \/run\/pds\/restic-password \/run\/pds\/ssh\/id_ed25519 \/etc\/ssh\/ssh_config; do/);
        assert.deepStrictEqual(Object.keys(gate.inputs.environment).sort(), ["PDS_SECRET_1", "PDS_SECRET_2", "PDS_SECRET_3"]);
    });

    it("uses the bridge network for a remote repository by default, and none for a local one", async () => {
        const remote = await record(resticArgs({ repository: "rest:https://backups.example.test/shop" }, { targetVolume: undefined }));
        assert.strictEqual(byName(remote.resources, "shop-backup").inputs.networkMode, "bridge");
        assert.match(byName(remote.resources, "shop-predeploy-db").inputs.create, /docker run --rm -i --pull never --network bridge /);
        const local = await record(resticArgs());
        assert.strictEqual(byName(local.resources, "shop-backup").inputs.networkMode, "none");
        assert.match(byName(local.resources, "shop-predeploy-db").inputs.create, /docker run --rm -i --pull never --network none /);
    });

    const invalid: Array<[string, any, string]> = [
        [
            "restic without a password",
            { engine: "restic", restic: {} },
            "backup.restic.password: the restic engine needs a repository password",
        ],
        ["restic settings with the tar engine", { restic: { password: "x" } }, 'backup.restic: restic settings need engine: "restic"'],
        [
            "a bad check subset",
            { engine: "restic", restic: { password: "x", checkSubset: "lots" } },
            "backup.restic.checkSubset: checkSubset must be a percentage",
        ],
        [
            "a bad check schedule",
            { engine: "restic", restic: { password: "x", checkSchedule: "weekly" } },
            "backup.restic.checkSchedule: must be a 5-field cron expression",
        ],
        [
            "a local repository without a target",
            { engine: "restic", targetVolume: undefined, restic: { password: "x" } },
            "backup: set exactly one of targetPath",
        ],
    ];
    for (const [what, backup, expected] of invalid) {
        it(`rejects ${what}`, () => {
            assert.throws(
                () =>
                    validateStackArgs({
                        ...args(),
                        restores: undefined,
                        backup: { volumes: ["pgdata"], targetVolume: "backups", ...backup },
                    }),
                (e: Error) => e.message.includes(expected) || assert.fail(e.message),
            );
        });
    }

    it("reads the password and SSH key from the secret config keys passwordSecret and sshKeySecret name", async () => {
        const source = (values: Record<string, unknown>) => ({
            getObject: <T>(k: string) => values[k] as T | undefined,
            get: (k: string) => values[k] as string | undefined,
            requireSecret: (k: string) => pulumi.secret(String(values[k])),
        });
        const restic = (secrets: Record<string, string>) => ({
            volumes: { data: {} },
            backup: { volumes: ["data"], engine: "restic", restic: { repository: "sftp:backup@backup-host:/srv/restic", ...secrets } },
        });
        const loaded = loadStackArgs(
            source({
                ...restic({ passwordSecret: "resticPassword", sshKeySecret: "resticSshKey" }),
                resticPassword: "pw",
                resticSshKey: "KEY",
            }),
        );
        const { password, sshKey } = loaded.backup!.restic!;
        assert.ok(pulumi.Output.isInstance(password) && pulumi.Output.isInstance(sshKey));
        assert.strictEqual(await promiseOf(password), "pw");
        assert.strictEqual(await promiseOf(sshKey), "KEY");
        assert.ok(await isSecret(password as pulumi.Output<string>), "password is secret");
        assert.ok(await isSecret(sshKey as pulumi.Output<string>), "sshKey is secret");
        for (const field of ["passwordSecret", "sshKeySecret"]) {
            const secrets: Record<string, string> = { passwordSecret: "resticPassword", [field]: "nope" };
            assert.throws(
                () => loadStackArgs(source({ ...restic(secrets), resticPassword: "pw" })),
                new RegExp(
                    `backup\\.restic\\.${field}: config key "nope" is not set; run: pulumi config set --secret nope ${field === "passwordSecret" ? "<password>" : "< key-file"}`,
                ),
            );
        }
    });
});

/**
 * Line numbers (1-based) of lines that start with `#` (after blanks) while
 * inside a quoted string or a here-document: a small POSIX sh scanner (quotes,
 * `$(...)` nested in double quotes, here-documents) for withoutComments.
 */
function hashLinesInsideText(script: string): number[] {
    const found: number[] = [];
    const stack: Array<"'" | '"' | "$("> = [];
    let heredoc: string | undefined;
    const pending: string[] = [];
    script.split("\n").forEach((line, i) => {
        if (heredoc !== undefined) {
            if (/^\s*#/.test(line)) found.push(i + 1);
            if (line.replace(/^\t+/, "") === heredoc) heredoc = pending.shift();
            return;
        }
        if (stack.some((q) => q !== "$(") && /^\s*#/.test(line)) found.push(i + 1);
        for (let c = 0; c < line.length; c++) {
            const ch = line[c];
            const top = stack[stack.length - 1];
            if (top === "'") {
                if (ch === "'") stack.pop();
            } else if (ch === "\\") {
                c++;
            } else if (ch === "$" && line[c + 1] === "(") {
                stack.push("$(");
                c++;
            } else if (top === '"') {
                if (ch === '"') stack.pop();
            } else if (ch === ")" && top === "$(") {
                stack.pop();
            } else if (ch === "'" || ch === '"') {
                stack.push(ch);
            } else if (ch === "#" && (c === 0 || /[\s;&|(]/.test(line[c - 1]))) {
                break;
            } else if (ch === "<" && line[c + 1] === "<") {
                const m = /^<<-?\s*['"]?(\w+)['"]?/.exec(line.slice(c));
                if (m) {
                    pending.push(m[1]);
                    c += m[0].length - 1;
                }
            }
        }
        if (!stack.length && pending.length) heredoc = pending.shift();
    });
    return found;
}
