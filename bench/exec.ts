// Running commands for the bench: timed shell commands (every measured run is
// one `sh -c` command line, exactly as a user or the component would type it),
// and the untimed Docker chores around them (volumes, labels, cleanup), on top
// of the test suite's docker CLI wrapper.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { docker, runInVolume } from "../test/helpers/docker";
import { nowSeconds } from "./stats";

/** The only images the bench uses (built locally by .ci/images.sh; no registry). */
export const BUSYBOX_IMAGE = "pds-test/busybox:latest";
export const RESTIC_IMAGE = "pds-test/restic:latest";

/** Label on every volume and helper container the bench creates. */
export const BENCH_LABEL = "pds.bench=1";
/** Label naming the bench run, so cleanup removes this run's objects only. */
export const RUN_LABEL_KEY = "pds.bench.run";

export interface ShellResult {
    code: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

/**
 * Run `sh -c command` (with `env` added to this process's environment, as
 * @pulumi/command's local.Command does) and time it, wall clock from spawn to
 * exit. Throws on a non-zero exit, with the end of stderr.
 */
export function timedShell(
    command: string,
    opts: { allowFail?: boolean; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ShellResult> {
    return new Promise((resolve, reject) => {
        const started = nowSeconds();
        const env = opts.env && Object.keys(opts.env).length ? { ...process.env, ...opts.env } : process.env;
        const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"], env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs ?? 30 * 60_000);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const result = {
                code: code ?? 128,
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
                seconds: nowSeconds() - started,
            };
            if (result.code !== 0 && !opts.allowFail) {
                const tail = result.stderr.trim().split("\n").slice(-8).join("\n");
                const shown = command.length > 300 ? `${command.slice(0, 300)}...` : command;
                reject(new Error(`command exited ${code ?? signal}: ${shown}\n${tail}`));
                return;
            }
            resolve(result);
        });
    });
}

/** Labels (`key=value`) for a run's objects. */
export function benchLabels(runId: string): string[] {
    return [BENCH_LABEL, `${RUN_LABEL_KEY}=${runId}`];
}

/** `--label` flags for a run's helper containers. */
export function labelFlags(runId: string): string[] {
    return benchLabels(runId).flatMap((l) => ["--label", l]);
}

/** Create a labelled, empty volume. */
export async function createVolume(name: string, runId: string): Promise<void> {
    await docker(["volume", "create", ...labelFlags(runId), name]);
}

/** Remove a volume (no error if it is gone). */
export async function removeVolume(name: string): Promise<void> {
    await docker(["volume", "rm", "-f", name], { allowFail: true });
}

/**
 * An untimed helper container: busybox (or `image`) with `mounts`
 * (`volume:/path[:ro]`), running `script` with `sh -c`. Returns stdout.
 */
export async function helper(runId: string, mounts: string[], script: string, image = BUSYBOX_IMAGE): Promise<string> {
    const r = await runInVolume(image, mounts, script, { label: BENCH_LABEL, extraArgs: ["--label", `${RUN_LABEL_KEY}=${runId}`] });
    return r.stdout;
}

/**
 * Flush dirty pages to disk (untimed, between measurements): one run's
 * unflushed writes must not be paid by the next one. sync(2) is global, so a
 * container can do it for the host.
 */
export async function syncDisks(runId: string): Promise<void> {
    if (localDaemon()) {
        await timedShell("sync");
    } else {
        await helper(runId, [], "sync");
    }
}

/** The daemon runs on this machine (default socket): the host's sync(2) flushes its volumes too. */
export function localDaemon(): boolean {
    const host = process.env.DOCKER_HOST ?? "";
    return (host === "" || host.startsWith("unix://")) && !process.env.DOCKER_CONTEXT;
}

/**
 * Remove everything of a run: containers carrying its label (or the extra
 * labels, e.g. the component's job labels), then its volumes. Never throws.
 */
export async function cleanupRun(
    runId: string,
    extraContainerFilters: string[][] = [],
): Promise<{ containers: number; volumes: number; failed: string[] }> {
    const failed: string[] = [];
    const list = async (args: string[]) => {
        const r = await docker(args, { allowFail: true });
        return r.code === 0 ? r.stdout.split("\n").filter((s) => s.trim()) : [];
    };
    const filters = [[`label=${RUN_LABEL_KEY}=${runId}`], ...extraContainerFilters];
    const containers = new Set<string>();
    for (const f of filters) {
        for (const id of await list(["ps", "-aq", "--no-trunc", ...f.flatMap((x) => ["--filter", x])])) {
            containers.add(id);
        }
    }
    for (const id of containers) {
        const r = await docker(["rm", "-f", id], { allowFail: true });
        if (r.code !== 0 && !/No such container/i.test(r.stderr)) {
            failed.push(`container ${id}: ${r.stderr.trim()}`);
        }
    }
    const volumes = await list(["volume", "ls", "-q", "--filter", `label=${RUN_LABEL_KEY}=${runId}`]);
    for (const v of volumes) {
        const r = await docker(["volume", "rm", "-f", v], { allowFail: true });
        if (r.code !== 0) {
            failed.push(`volume ${v}: ${r.stderr.trim()}`);
        }
    }
    return { containers: containers.size, volumes: volumes.length, failed };
}

/** Bench volumes left by other (crashed or concurrent) runs. */
export async function otherBenchVolumes(runId: string): Promise<string[]> {
    const r = await docker(["volume", "ls", "-q", "--filter", `label=${BENCH_LABEL}`], { allowFail: true });
    const all = r.code === 0 ? r.stdout.split("\n").filter((s) => s.trim()) : [];
    const mine = await docker(["volume", "ls", "-q", "--filter", `label=${RUN_LABEL_KEY}=${runId}`], { allowFail: true });
    const own = new Set(mine.stdout.split("\n").filter((s) => s.trim()));
    return all.filter((v) => !own.has(v));
}

/** Whether a local image exists. */
export async function hasImage(image: string): Promise<boolean> {
    return (await docker(["image", "inspect", "--format", "{{.Id}}", image], { allowFail: true })).code === 0;
}

/** A regular file of a volume: path relative to the volume root, size in bytes. */
export interface VolumeFile {
    path: string;
    size: number;
}

/**
 * Every regular file of a volume (untimed). With a local daemon whose volume
 * directories this process can read (root on the Docker host), they are read
 * in place; otherwise through a helper container.
 */
export async function listVolumeFiles(runId: string, volume: string): Promise<VolumeFile[]> {
    const mountpoint = localDaemon() ? await hostMountpoint(volume) : undefined;
    if (mountpoint) {
        const files: VolumeFile[] = [];
        const walk = async (dir: string, rel: string): Promise<void> => {
            for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
                const full = path.join(dir, entry.name);
                const relPath = rel ? `${rel}/${entry.name}` : entry.name;
                if (entry.isDirectory()) {
                    await walk(full, relPath);
                } else if (entry.isFile()) {
                    files.push({ path: relPath, size: (await fs.promises.lstat(full)).size });
                }
            }
        };
        await walk(mountpoint, "");
        return files;
    }
    const out = await helper(runId, [`${volume}:/v:ro`], "cd /v && find . -type f -exec stat -c '%s %n' {} +");
    return out
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const space = line.indexOf(" ");
            return { size: Number(line.slice(0, space)), path: line.slice(space + 1).replace(/^\.\//, "") };
        });
}

async function hostMountpoint(volume: string): Promise<string | undefined> {
    const r = await docker(["volume", "inspect", "--format", "{{.Mountpoint}}", volume], { allowFail: true });
    const dir = r.stdout.trim();
    try {
        await fs.promises.access(dir, fs.constants.R_OK | fs.constants.X_OK);
        return dir;
    } catch {
        return undefined;
    }
}

/** Sum of regular-file sizes and file count of a volume (untimed). */
export async function treeBytes(runId: string, volume: string): Promise<{ bytes: number; files: number }> {
    const files = await listVolumeFiles(runId, volume);
    return { bytes: files.reduce((sum, f) => sum + f.size, 0), files: files.length };
}
