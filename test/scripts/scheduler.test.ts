import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { toolDir } from "./helpers";

const SCHEDULER = path.resolve(__dirname, "../../components/backup/scripts/scheduler.sh");

describe("the scheduler's saved environment (what cron jobs see)", () => {
    it("keeps every variable intact, whatever its name, with trailing '=' and quotes", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pds-sched-"));
        try {
            const envFile = path.join(dir, "env.sh");
            const values = {
                AWS_SECRET_ACCESS_KEY: "c2VjcmV0==",
                RCLONE_CONFIG_REMOTE_PASS: "it's=a 'pass'",
                BACKUP_HOOK_1_COMMAND: "sh -c 'pg_dump -U app app > /dump/app.sql'",
                BACKUP_KEEP_DAYS: "30",
            };
            const script = [
                `PDS_SOURCE_ONLY=1 . '${SCHEDULER}'`,
                `ENV_FILE='${envFile}'`,
                "save_environment",
                // A cron job starts with an empty environment and sources the file.
                `env -i PATH="$PATH" sh -c '. ${envFile}; printf "[%s]\\n" ${Object.keys(values)
                    .map((k) => `"$${k}"`)
                    .join(" ")}'`,
            ].join("\n");
            const r = spawnSync("busybox", ["sh", "-c", script], { env: { PATH: toolDir(false), ...values }, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(
                r.stdout.trim().split("\n"),
                Object.values(values).map((v) => `[${v}]`),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
