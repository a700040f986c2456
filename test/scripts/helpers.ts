// Helpers for the backup script tests: run the scripts under `busybox sh` with
// a PATH that holds nothing but busybox applets (+ zstd, + flock where the
// busybox build lacks that applet), in throwaway directories.
import { spawn, spawnSync, ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const SCRIPTS_DIR = path.resolve(__dirname, "../../components/backup/scripts");
export const BUSYBOX = "/bin/busybox";

/** Fixed, valid timestamps for names; T(0) < T(1) < ... one hour apart. */
export function T(hoursAfter: number, base = Date.UTC(2024, 0, 15, 12, 0, 0)): string {
    return stamp(new Date(base + hoursAfter * 3600_000));
}

/** Date -> yyyymmddThhmmssZ */
export function stamp(d: Date): string {
    return d
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}Z$/, "Z");
}

function which(cmd: string): string | undefined {
    for (const dir of (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
        const p = path.join(dir, cmd);
        try {
            fs.accessSync(p, fs.constants.X_OK);
            return p;
        } catch {
            // keep looking
        }
    }
    return undefined;
}

function busyboxApplets(): string[] {
    const r = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${BUSYBOX} --list failed: ${r.stderr}`);
    return r.stdout.split("\n").filter((a) => a.length > 0);
}

const toolDirs = new Map<string, string>();

/**
 * A directory with one symlink per busybox applet, plus zstd (unless
 * `withZstd` is false) and, only when the busybox build has no flock applet
 * (Debian's busybox-static), util-linux flock: the busybox image the jobs run
 * in has the applet, the CI test image adds util-linux flock the same way.
 * Tests put ONLY this directory on PATH.
 */
export function toolDir(withZstd = true): string {
    const key = withZstd ? "zstd" : "nozstd";
    const cached = toolDirs.get(key);
    if (cached) return cached;
    if (!fs.existsSync(BUSYBOX)) {
        throw new Error(`${BUSYBOX} missing: apt-get install busybox-static zstd util-linux`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pds-tools-${key}-`));
    fs.chmodSync(dir, 0o755); // some tests run a script as an unprivileged user
    const applets = busyboxApplets();
    for (const applet of applets) fs.symlinkSync(BUSYBOX, path.join(dir, applet));
    if (withZstd) {
        const zstd = which("zstd");
        if (!zstd) throw new Error("zstd missing: apt-get install zstd");
        fs.symlinkSync(zstd, path.join(dir, "zstd"));
    }
    if (!applets.includes("flock")) {
        const flock = which("flock");
        if (!flock) throw new Error("flock missing (no busybox applet): apt-get install util-linux");
        fs.symlinkSync(flock, path.join(dir, "flock"));
    }
    toolDirs.set(key, dir);
    return dir;
}

// The tool dirs are shared by every test file; a root-level hook (registered
// when the first spec file imports this module) removes them at the very end.
after(() => {
    for (const dir of toolDirs.values()) fs.rmSync(dir, { recursive: true, force: true });
    toolDirs.clear();
});

/**
 * A tool dir like `toolDir()` (a fresh one under `parent`), with some commands
 * replaced by shell scripts (`#!/bin/busybox sh` is prepended): for fault
 * injection and tracing. Pass it as `pathDir`.
 */
export function wrappedToolDir(parent: string, wrappers: Record<string, string>, withZstd = true): string {
    const base = toolDir(withZstd);
    const dir = fs.mkdtempSync(path.join(parent, "tools-"));
    fs.chmodSync(dir, 0o755);
    for (const entry of fs.readdirSync(base)) {
        if (!(entry in wrappers)) fs.symlinkSync(fs.readlinkSync(path.join(base, entry)), path.join(dir, entry));
    }
    for (const [command, body] of Object.entries(wrappers)) {
        fs.writeFileSync(path.join(dir, command), `#!${BUSYBOX} sh\n${body}`, { mode: 0o755 });
    }
    return dir;
}

export interface RunResult {
    status: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

export type Env = Record<string, string>;

export interface RunOptions {
    /** PATH for the script (default: the busybox + zstd tool dir). */
    pathDir?: string;
    /** Run as this uid/gid instead of root. */
    uid?: number;
    /**
     * The shell that runs the script (default `busybox sh`). busybox sh runs
     * its own applets (mv, sync, ...) even when PATH holds another command of
     * that name; a test that wraps applets on PATH runs the script under
     * another POSIX shell, such as `/bin/dash`.
     */
    shell?: string;
}

/** Run a script synchronously: `busybox sh <script> args...` with only `env` (+PATH). */
export function runScript(script: string, env: Env, args: string[] = [], opts: RunOptions = {}): RunResult {
    // Another user may not be able to enter the checkout (e.g. under /root): it
    // runs a world-readable copy of the scripts.
    const dir = opts.uid === undefined ? SCRIPTS_DIR : readableScriptsDir();
    const shell = opts.shell ? [opts.shell] : ["busybox", "sh"];
    const r = spawnSync(shell[0], [...shell.slice(1), path.join(dir, script), ...args], {
        env: { PATH: opts.pathDir ?? toolDir(), ...env },
        encoding: "utf8",
        timeout: 50_000,
        ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
    });
    if (r.error) throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

let readableCopy: string | undefined;

/** A copy of the scripts in a temp directory any user can read. */
function readableScriptsDir(): string {
    if (!readableCopy) {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-scripts-"));
        fs.chmodSync(root, 0o755);
        readableCopy = path.join(root, "scripts");
        fs.cpSync(SCRIPTS_DIR, readableCopy, { recursive: true });
        for (const entry of fs.readdirSync(readableCopy)) {
            fs.chmodSync(path.join(readableCopy, entry), 0o755);
        }
        fs.chmodSync(readableCopy, 0o755);
    }
    return readableCopy;
}

/** Start a script in its own process group (so the test can kill the whole job). */
export function startScript(script: string, env: Env, args: string[] = []): ChildProcess {
    return spawn("busybox", ["sh", path.join(SCRIPTS_DIR, script), ...args], {
        env: { PATH: toolDir(), ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    });
}

/** Collect a child's output and wait for it to exit. */
export function finished(child: ChildProcess): Promise<RunResult> {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
    });
}

/** Poll `cond` every few ms until true (or fail after `timeoutMs`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
    }
}

/**
 * A temporary world: sources/<volume>, backup target, restore dir. `env()`
 * gives the scripts' base environment for it.
 */
export class Sandbox {
    readonly root: string;
    readonly sources: string;
    readonly target: string;
    readonly restore: string;

    constructor(public readonly prefix = "prod") {
        this.root = fs.mkdtempSync(path.join(os.tmpdir(), "pds-scripts-"));
        this.sources = path.join(this.root, "sources");
        this.target = path.join(this.root, "backup");
        this.restore = path.join(this.root, "restore");
        for (const d of [this.sources, this.target, this.restore]) fs.mkdirSync(d);
        // The scripts' own temp dirs go here too, so a killed run leaves nothing behind.
        fs.mkdirSync(this.tmp);
        fs.chmodSync(this.tmp, 0o1777);
    }

    get tmp(): string {
        return path.join(this.root, "tmp");
    }

    env(extra: Env = {}): Env {
        return {
            BACKUP_PREFIX: this.prefix,
            BACKUP_SOURCES_DIR: this.sources,
            BACKUP_TARGET_DIR: this.target,
            RESTORE_TARGET_DIR: this.restore,
            TMPDIR: this.tmp,
            ...extra,
        };
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

    /** Run backup.sh; throws with its output unless it exits 0. */
    backup(extra: Env = {}): RunResult {
        const r = runScript("backup.sh", this.env({ BACKUP_KEEP_LAST: "0", ...extra }));
        if (r.status !== 0) throw new Error(`backup.sh exited ${r.status}\n${r.stderr}`);
        return r;
    }

    run(script: string, extra: Env = {}, args: string[] = [], opts: RunOptions = {}): RunResult {
        return runScript(script, this.env(extra), args, opts);
    }

    /** Names in the target dir, sorted, without the lock file. */
    targetFiles(): string[] {
        return fs
            .readdirSync(this.target)
            .filter((n) => n !== ".pds.lock")
            .sort();
    }

    file(name: string): string {
        return path.join(this.target, name);
    }

    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}

export function escapeRe(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function sha256File(p: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
}

/** Flip one byte in the middle of a file (the checksum no longer matches). */
export function flipByte(p: string, at?: number): void {
    const buf = fs.readFileSync(p);
    const i = at ?? Math.floor(buf.length / 2);
    buf[i] ^= 0xff;
    fs.writeFileSync(p, buf);
}

export interface EntryDigest {
    type: "file" | "dir" | "symlink" | "other";
    mode?: string;
    uid?: number;
    gid?: number;
    sha256?: string;
    mtime?: number;
    target?: string;
    /** Other paths sharing this file's inode (hard links), sorted. */
    links?: string[];
}

/**
 * Everything that must survive a backup/restore round trip, keyed by path
 * relative to `root` ("." is the root itself): type, permission bits, numeric
 * owner, content hash and mtime (seconds) of files, symlink targets, and which
 * names are hard links of one inode.
 */
export function treeDigest(root: string): Record<string, EntryDigest> {
    const out: Record<string, EntryDigest> = {};
    const byInode = new Map<number, string[]>();
    const walk = (rel: string): void => {
        const abs = rel === "." ? root : path.join(root, rel);
        const st = fs.lstatSync(abs);
        const e: EntryDigest = {
            type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other",
            mode: (st.mode & 0o7777).toString(8),
            uid: st.uid,
            gid: st.gid,
        };
        if (st.isSymbolicLink()) {
            e.target = fs.readlinkSync(abs);
            // Linux ignores a symlink's mode; busybox tar stores a symlink's owner
            // but extracts the link as the restoring user (no lchown), so only
            // the target is compared.
            delete (e as Partial<EntryDigest>).mode;
            delete (e as Partial<EntryDigest>).uid;
            delete (e as Partial<EntryDigest>).gid;
        } else if (st.isFile()) {
            e.sha256 = sha256File(abs);
            e.mtime = Math.floor(st.mtimeMs / 1000);
            if (st.nlink > 1) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), rel]);
        }
        out[rel] = e;
        if (st.isDirectory()) {
            for (const name of fs.readdirSync(abs)) walk(rel === "." ? name : path.join(rel, name));
        }
    };
    walk(".");
    for (const names of byInode.values()) {
        for (const n of names) out[n].links = names.filter((m) => m !== n).sort();
    }
    return out;
}

/** Inode of a path (to check hard links share one in a restored tree). */
export function inode(p: string): number {
    return fs.lstatSync(p).ino;
}

/**
 * Fill `dir` with everything a volume may hold that a naive copy loses:
 * modes (incl. setgid/sticky), numeric owners (1000:1000 has no passwd entry
 * on the host or in busybox), relative/absolute/dangling symlinks, hard links
 * across directories, empty directories, an empty file, names with spaces,
 * newlines and non-ASCII, a path longer than tar's 100-byte name field, old
 * mtimes, and a binary file.
 */
export function buildFidelityTree(dir: string): void {
    const w = (rel: string, content: string | Buffer, mode = 0o644): void => {
        const p = path.join(dir, rel);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, content);
        fs.chmodSync(p, mode);
    };
    fs.mkdirSync(dir, { recursive: true });
    w("plain.txt", "hello\n");
    w("run.sh", "#!/bin/sh\necho hi\n", 0o755);
    w("secret.key", "s3cr3t", 0o600);
    fs.chownSync(path.join(dir, "secret.key"), 1000, 1000);
    w("empty-file", "");
    w("binary.bin", crypto.randomBytes(64 * 1024));
    w("dir with spaces/file with spaces.txt", "spaces");
    w("line\nbreak", "newline in name");
    w("ünïcødé/日本語 ファイル.txt", "non-ascii");
    w("tab\there", "tab");
    const long = "d".repeat(90);
    w(`${long}/${long}/${"f".repeat(120)}.txt`, "long path");
    w("data/hard-a", "hard linked");
    fs.mkdirSync(path.join(dir, "other"), { recursive: true });
    fs.linkSync(path.join(dir, "data/hard-a"), path.join(dir, "other/hard-b"));
    fs.linkSync(path.join(dir, "data/hard-a"), path.join(dir, "data/hard c"));
    fs.symlinkSync("plain.txt", path.join(dir, "link-rel"));
    fs.symlinkSync("/etc/passwd", path.join(dir, "link-abs"));
    fs.symlinkSync("does/not/exist", path.join(dir, "link-dangling"));
    fs.symlinkSync("../ünïcødé", path.join(dir, "data/link-to-dir"));
    fs.lchownSync(path.join(dir, "link-rel"), 1000, 1000);
    fs.mkdirSync(path.join(dir, "empty-dir/nested/deeper"), { recursive: true });
    fs.chmodSync(path.join(dir, "empty-dir/nested"), 0o700);
    fs.mkdirSync(path.join(dir, "shared"));
    fs.chownSync(path.join(dir, "shared"), 1000, 1000);
    fs.chmodSync(path.join(dir, "shared"), 0o2775);
    fs.mkdirSync(path.join(dir, "scratch"));
    fs.chmodSync(path.join(dir, "scratch"), 0o1777);
    w("shared/owned", "owned by 1000", 0o640);
    fs.chownSync(path.join(dir, "shared/owned"), 1000, 1001);
    const old = new Date("2001-02-03T04:05:06Z");
    fs.utimesSync(path.join(dir, "plain.txt"), old, old);
    // The volume root's own owner and mode are part of the volume too.
    fs.chownSync(dir, 999, 999);
    fs.chmodSync(dir, 0o750);
}
