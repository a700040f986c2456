// Helpers for the restic engine's script tests: the restic-*.sh scripts run
// under `busybox sh` with a PATH of busybox applets plus `restic`, against a
// repository in a throwaway directory. `restic` on that PATH is a small
// wrapper that appends its argv and environment to a trace file, then execs
// the host's /usr/bin/restic: the tests grep the trace (and every captured
// output) for the password.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Env, RunResult, runScript, toolDir } from "./helpers";

export const RESTIC = "/usr/bin/restic";

/** One password for every sandbox of this run (they may share a template repository). */
export const PASSWORD = `pw-${crypto.randomBytes(12).toString("hex")}-Zq`;

/** Every output of every script run (and of restic run directly), for the password check. */
export const capturedOutputs: string[] = [];

let ensured = false;

/** /usr/bin/restic, installed with apt-get when missing (the CI machine has Debian's apt). */
export function ensureRestic(): void {
    if (ensured) return;
    if (!fs.existsSync(RESTIC)) {
        const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
        for (const args of [["update"], ["install", "-y", "restic"]]) {
            const r = spawnSync("apt-get", args, { env, encoding: "utf8", timeout: 300_000 });
            if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (restic is needed): ${r.stderr}`);
        }
    }
    ensured = true;
}

let traceTools: string | undefined;
let traceFile: string | undefined;

/** A PATH dir: the busybox tool dir's entries, plus the tracing `restic` wrapper. */
export function resticToolDir(): string {
    if (traceTools) return traceTools;
    ensureRestic();
    const base = toolDir(false);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pds-restic-tools-"));
    fs.chmodSync(dir, 0o755);
    for (const name of fs.readdirSync(base)) fs.symlinkSync(fs.readlinkSync(path.join(base, name)), path.join(dir, name));
    traceFile = path.join(dir, "trace.log");
    fs.writeFileSync(traceFile, "");
    fs.writeFileSync(
        path.join(dir, "restic"),
        `#!/bin/busybox sh\n{ echo "--- argv"; printf '%s\\n' "$@"; echo "--- env"; env; } >>'${traceFile}'\nexec ${RESTIC} "$@"\n`,
        { mode: 0o755 },
    );
    traceTools = dir;
    return dir;
}

/** What the tracing wrapper recorded: every restic argv and environment so far. */
export function resticTrace(): string {
    return traceFile ? fs.readFileSync(traceFile, "utf8") : "";
}

after(() => {
    if (traceTools) fs.rmSync(traceTools, { recursive: true, force: true });
    traceTools = undefined;
    if (template) {
        if (template.child.exitCode === null) template.child.kill();
        fs.rmSync(template.root, { recursive: true, force: true });
    }
    template = undefined;
});

let template: { root: string; repo: string; rc: string; child: ChildProcess } | undefined;

/**
 * Start `restic init` of the template repository in the background (~4 s of
 * key derivation), so that it overlaps the first test, which makes its own
 * fresh repository. Called when this module loads.
 */
function startTemplate(): void {
    if (template || !fs.existsSync(RESTIC)) return;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-restic-template-"));
    const pw = path.join(root, "password");
    fs.writeFileSync(pw, `${PASSWORD}\n`, { mode: 0o600 });
    const repo = path.join(root, "repo");
    const rc = path.join(root, "rc");
    // The exit status lands in a file: the tests run scripts synchronously, so
    // the event loop (and the child's exit event) may be blocked while we wait.
    const child = spawn(
        "sh",
        ["-c", `"$0" init --repo "$1" --password-file "$2" --no-cache >"$3.log" 2>&1; echo $? >"$3"`, RESTIC, repo, pw, rc],
        {
            stdio: "ignore",
        },
    );
    template = { root, repo, rc, child };
}
startTemplate();

/** The initialized template repository to copy from (waits for startTemplate's init). */
function templateRepo(): string {
    startTemplate();
    if (!template) throw new Error(`${RESTIC} missing`);
    const deadline = Date.now() + 60_000;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (!fs.existsSync(template.rc) || fs.readFileSync(template.rc, "utf8").trim() === "") {
        if (Date.now() > deadline) throw new Error("restic init of the template repository timed out");
        Atomics.wait(sleeper, 0, 0, 50);
    }
    const status = fs.readFileSync(template.rc, "utf8").trim();
    if (status !== "0") throw new Error(`restic init of the template failed (${status}): ${fs.readFileSync(`${template.rc}.log`, "utf8")}`);
    return template.repo;
}

/**
 * A temporary world for the restic scripts: sources/<volume>, a repository
 * dir, a restore target, the password file, a cache dir and TMPDIR.
 * `fresh`: no repository yet (restic-backup.sh initializes it); otherwise a
 * copy of an initialized template repository.
 */
export class ResticSandbox {
    readonly root: string;
    readonly sources: string;
    readonly repo: string;
    readonly restore: string;
    readonly passwordFile: string;
    readonly cache: string;
    readonly tmp: string;

    constructor(
        public readonly prefix = "prod",
        opts: { fresh?: boolean } = {},
    ) {
        ensureRestic();
        this.root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-restic-"));
        this.sources = path.join(this.root, "sources");
        this.repo = path.join(this.root, "repo");
        this.restore = path.join(this.root, "restore");
        this.cache = path.join(this.root, "cache");
        this.tmp = path.join(this.root, "tmp");
        for (const d of [this.sources, this.restore, this.tmp]) fs.mkdirSync(d);
        fs.chmodSync(this.tmp, 0o1777);
        this.passwordFile = path.join(this.root, "password");
        fs.writeFileSync(this.passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
        if (!opts.fresh) {
            const r = spawnSync("cp", ["-a", templateRepo(), this.repo], { encoding: "utf8" });
            if (r.status !== 0) throw new Error(`cp -a of the template repository failed: ${r.stderr}`);
        }
    }

    env(extra: Env = {}): Env {
        return {
            RESTIC_REPOSITORY: this.repo,
            RESTIC_PASSWORD_FILE: this.passwordFile,
            RESTIC_CACHE_DIR: this.cache,
            BACKUP_PREFIX: this.prefix,
            BACKUP_SOURCES_DIR: this.sources,
            RESTORE_TARGET_DIR: this.restore,
            // Retention off unless a test sets it: saves a forget per backup.
            BACKUP_KEEP_LAST: "0",
            TMPDIR: this.tmp,
            HOME: "/nonexistent",
            ...extra,
        };
    }

    run(script: string, extra: Env = {}): RunResult {
        const r = runScript(script, this.env(extra), [], { pathDir: resticToolDir() });
        capturedOutputs.push(r.stdout, r.stderr);
        return r;
    }

    /** Run restic-backup.sh; throws with its output unless it exits 0. */
    backup(extra: Env = {}): RunResult {
        const r = this.run("restic-backup.sh", extra);
        if (r.status !== 0) throw new Error(`restic-backup.sh exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    /** Create (or fill) a source volume from a map of relative path -> content. */
    volume(name: string, files: Record<string, string | Buffer> = {}): string {
        const dir = path.join(this.sources, name);
        fs.mkdirSync(dir, { recursive: true });
        for (const [rel, content] of Object.entries(files)) {
            const p = path.join(dir, rel);
            fs.mkdirSync(path.dirname(p), { recursive: true });
            fs.writeFileSync(p, content);
        }
        return dir;
    }

    /** restic run directly (test setup and inspection), with this sandbox's repository. */
    restic(args: string[]): RunResult {
        const r = spawnSync(RESTIC, args, {
            env: {
                PATH: "/usr/bin:/bin",
                RESTIC_REPOSITORY: this.repo,
                RESTIC_PASSWORD_FILE: this.passwordFile,
                RESTIC_CACHE_DIR: this.cache,
                TZ: "UTC",
            },
            encoding: "utf8",
            timeout: 50_000,
        });
        if (r.error) throw r.error;
        capturedOutputs.push(r.stdout, r.stderr);
        return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    }

    /** This repository's snapshots (restic snapshots --json), oldest first. */
    snapshots(filter: string[] = []): Snapshot[] {
        const r = this.restic(["snapshots", "--json", ...filter]);
        if (r.status !== 0) throw new Error(`restic snapshots failed: ${r.stderr}`);
        const list = JSON.parse(r.stdout) as Snapshot[];
        return list.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    }

    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}

export interface Snapshot {
    id: string;
    short_id: string;
    time: string;
    hostname: string;
    paths: string[];
    tags?: string[];
}

/** The volume=<key> tag of a snapshot. */
export function volumeOf(s: Snapshot): string | undefined {
    return s.tags?.find((t) => t.startsWith("volume="))?.slice("volume=".length);
}

/** `du -sb DIR` in bytes (apparent size of every file). */
export function duBytes(dir: string): number {
    const r = spawnSync("du", ["-sb", dir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`du -sb ${dir} failed: ${r.stderr}`);
    return Number(r.stdout.split(/\s/)[0]);
}

/** sha256 over every entry below `dir`: relative path, type, mode, size and content. */
export function dirDigest(dir: string): string {
    const h = crypto.createHash("sha256");
    const walk = (rel: string): void => {
        const abs = path.join(dir, rel);
        const st = fs.lstatSync(abs);
        h.update(`${rel}\0${st.mode.toString(8)}\0${st.size}\0`);
        if (st.isFile()) h.update(fs.readFileSync(abs));
        if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name));
    };
    walk(".");
    return h.digest("hex");
}

/** The largest file under `dir` (e.g. the data pack holding a big random file). */
export function largestFile(dir: string): string {
    let best = { p: "", size: -1 };
    const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.isFile()) {
                const size = fs.statSync(p).size;
                if (size > best.size) best = { p, size };
            }
        }
    };
    walk(dir);
    if (!best.p) throw new Error(`no file under ${dir}`);
    return best.p;
}
