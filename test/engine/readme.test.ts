// The repository's own program, set up exactly as the README says: its
// commands are read from the README and run verbatim with the real `pulumi`
// CLI in a copy of the repository (its own HOME, PULUMI_HOME and local backend
// directory, passphrase from the environment, confirmations skipped as in CI),
// on the real Docker daemon.
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { docker, removeByLabel, requireDocker, volumeExists } from "../helpers/docker";
import { repoRoot } from "../helpers/stacks";
import { requireToolchain } from "../helpers/toolchain";

/** The shell commands of the README's code block marked `<!-- test: <name> ... -->`. */
export function readmeCommands(name: string): string[] {
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
    const block = new RegExp(`<!-- test: ${name}( [^>]*)? -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme);
    assert.ok(block, `README has a sh block marked <!-- test: ${name} -->`);
    return block[2].split("\n").filter((l) => l.trim() !== "");
}

const devData = "/var/tmp/persistent-docker-dev";

describe("the repository's own program, set up as the README says", function () {
    this.timeout(1_200_000);
    const password = `pw-${randomBytes(8).toString("hex")}`;
    let work = "";
    let env: NodeJS.ProcessEnv = {};

    /** Run one README command line in the copy, failing with its output. */
    function sh(line: string): string {
        const r = spawnSync("bash", ["-c", line], { cwd: work, env, encoding: "utf8", timeout: 900_000, maxBuffer: 256 * 1024 * 1024 });
        assert.equal(r.status, 0, `\`${line}\` exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
    }
    const psql = (sql: string) =>
        docker(["exec", "persistent-docker-prod-db", "psql", "-U", "app", "-d", "app", "-tAc", sql]).then((r) => r.stdout.trim());
    async function waitForDb(): Promise<void> {
        const deadline = Date.now() + 120_000;
        for (;;) {
            const r = await docker(["exec", "persistent-docker-prod-db", "pg_isready", "-U", "app"], { allowFail: true });
            if (r.code === 0) return;
            assert.ok(Date.now() < deadline, `the database answers: ${r.stdout}${r.stderr}`);
            await new Promise((res) => setTimeout(res, 1000));
        }
    }

    before(async function () {
        requireToolchain(this);
        await requireDocker(this, { image: "pds-test/postgres:latest" });
        execFileSync("bash", [path.join(repoRoot, ".ci/images-stacks.sh")], { stdio: "inherit" });
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-readme-"));
        work = path.join(root, "persistent-docker");
        // The tracked files, as a clone would have them.
        const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).split("\n");
        for (const f of files.filter((f) => f && fs.existsSync(path.join(repoRoot, f)))) {
            fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
            fs.copyFileSync(path.join(repoRoot, f), path.join(work, f));
            fs.chmodSync(path.join(work, f), fs.statSync(path.join(repoRoot, f)).mode);
        }
        const home = path.join(root, "home");
        fs.mkdirSync(home);
        env = {
            PATH: process.env.PATH,
            HOME: home,
            // `pulumi login --local` means file://~ of the user database's home,
            // not $HOME: the backend and Pulumi's own files go to the test's dirs.
            PULUMI_HOME: path.join(home, ".pulumi"),
            PULUMI_BACKEND_URL: `file://${home}`,
            npm_config_cache: process.env.npm_config_cache ?? path.join(os.homedir(), ".npm"),
            PULUMI_CONFIG_PASSPHRASE: "readme-test-passphrase",
            PULUMI_SKIP_CONFIRMATIONS: "true",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            ...(process.env.DOCKER_API_VERSION ? { DOCKER_API_VERSION: process.env.DOCKER_API_VERSION } : {}),
        };
    });

    after(async () => {
        // The README's stacks use the project's real names (persistent-docker-dev-*, -prod-*).
        await removeByLabel("pds.project=persistent-docker").catch(() => undefined);
        fs.rmSync(devData, { recursive: true, force: true });
        if (work) fs.rmSync(path.dirname(work), { recursive: true, force: true });
    });

    it("dev: npm ci, login --local, stack init and up start every container; a second preview shows no changes", async () => {
        for (const line of readmeCommands("readme-dev")) sh(line);
        for (const key of ["db", "web", "thumbnailer", "backup"]) {
            const state = await docker(["inspect", "-f", "{{.State.Running}}", `persistent-docker-dev-${key}`]);
            assert.equal(state.stdout.trim(), "true", `persistent-docker-dev-${key} runs`);
        }
        assert.ok(fs.existsSync(path.join(devData, "pgdata")), "the database's bind source was created on the host");
        sh("pulumi preview --stack dev --expect-no-changes");
    });

    it("prod: the password goes in as a secret, a second preview shows no changes, and the state holds no secret in clear", async () => {
        for (const line of readmeCommands("readme-prod")) sh(line.replace("<password>", password));
        await waitForDb();
        await psql("CREATE TABLE survivors (name text); INSERT INTO survivors VALUES ('pgdata');");
        sh("pulumi preview --stack prod --expect-no-changes");
        const state = sh("pulumi stack export --stack prod");
        assert.ok(!state.includes(password), "the database password is not in the state in plain text");
        assert.ok(!fs.readFileSync(path.join(work, "stacks/Pulumi.prod.yaml"), "utf8").includes(password), "nor in the stack file");
        const inspect = (await docker(["inspect", "persistent-docker-prod-db"])).stdout;
        assert.ok(inspect.includes(password), "the container itself got the password");
    });

    it("prod: unprotect, destroy and up again keeps the volumes and re-attaches them with the data intact", async () => {
        const [unprotect, destroy, up] = readmeCommands("readme-prod-recreate");
        sh(unprotect);
        sh(destroy);
        for (const key of ["db", "web", "thumbnailer", "backup"]) {
            assert.equal(
                (await docker(["ps", "-aq", "--filter", `name=^persistent-docker-prod-${key}$`])).stdout.trim(),
                "",
                `${key} is gone`,
            );
        }
        for (const key of ["pgdata", "pgdump", "uploads", "logs", "backups"]) {
            assert.ok(await volumeExists(`persistent-docker-prod-${key}`), `volume ${key} was kept`);
        }
        sh(up);
        await waitForDb();
        assert.equal(await psql("SELECT name FROM survivors"), "pgdata");
    });
});
