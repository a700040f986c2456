// Thin wrapper around the `docker` CLI for engine tests and the docker
// provider stand-in's tests. Every call goes through execFile (no shell), so
// arguments never need quoting.
//
//   docker(args, {input, allowFail})   run the CLI, get {code, stdout, stderr}
//   requireDocker(this)                mocha `before` guard: skip (locally) or
//                                      fail (CI=true) when no daemon answers
//   volumeExists / containerExists / networkExists / imageExists
//   removeByLabel("pds.test=replay")   force-remove containers, volumes and
//                                      networks carrying a label (test cleanup)
//   runInVolume(image, mounts, cmd)    one-shot `docker run --rm` with mounts
//   treeDigest(volumeOrPath)           digest of a whole tree (see below)
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as path from "node:path";

/** Image used by the helpers: busybox applets (sh, tar, find, stat, sha256sum ...). */
export const TEST_IMAGE = process.env.PDS_TEST_IMAGE ?? "pds-test/busybox:latest";

/** Label put on everything the helpers themselves run. */
export const HELPER_LABEL = "pds.test=helper";

export interface DockerResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface DockerOptions {
    /** Written to the CLI's standard input. */
    input?: string | Buffer;
    /** Return a non-zero exit as a result instead of throwing. */
    allowFail?: boolean;
    /** Kill the CLI after this many milliseconds (default: 10 minutes). */
    timeoutMs?: number;
    /** Extra environment for the CLI (merged over process.env). */
    env?: Record<string, string>;
}

/** Error thrown by {@link docker} on a non-zero exit. */
export class DockerError extends Error {
    constructor(
        readonly args: string[],
        readonly result: DockerResult,
    ) {
        super(
            `docker ${args.map(shortArg).join(" ")} exited ${result.code}: ` +
                (result.stderr.trim() || result.stdout.trim() || "(no output)"),
        );
        this.name = "DockerError";
    }
}

function shortArg(a: string): string {
    return a.length > 120 ? `${a.slice(0, 117)}...` : a;
}

/** Run `docker ...args`. Throws {@link DockerError} on a non-zero exit unless `allowFail`. */
export function docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            "docker",
            args,
            {
                maxBuffer: 256 * 1024 * 1024,
                timeout: opts.timeoutMs ?? 600_000,
                env: opts.env ? { ...process.env, ...opts.env } : process.env,
                encoding: "utf8",
            },
            (error, stdout, stderr) => {
                let code = 0;
                if (error) {
                    const e = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
                    if (typeof e.code === "number") {
                        code = e.code;
                    } else if (e.code === "ENOENT") {
                        reject(new Error("docker CLI not found on PATH"));
                        return;
                    } else {
                        code = e.killed ? 124 : 1;
                        stderr = `${stderr}${stderr ? "\n" : ""}${e.message}`;
                    }
                }
                const result = { code, stdout: String(stdout), stderr: String(stderr) };
                if (code !== 0 && !opts.allowFail) {
                    reject(new DockerError(args, result));
                } else {
                    resolve(result);
                }
            },
        );
        if (opts.input !== undefined) {
            child.stdin?.on("error", () => undefined); // the CLI may exit before reading everything
            child.stdin?.end(opts.input);
        } else {
            child.stdin?.end();
        }
    });
}

// ---------------------------------------------------------------------------
// Daemon guard for mocha suites

let daemonProbe: Promise<string | undefined> | undefined;

/**
 * Why the daemon is not usable, or undefined when `docker info` answers.
 * Retries for up to `waitMs` (default 20 s, or PDS_DOCKER_WAIT_MS) so a daemon
 * that is still starting is waited for.
 */
export function dockerUnavailableReason(waitMs?: number): Promise<string | undefined> {
    if (!daemonProbe) {
        daemonProbe = (async () => {
            const deadline = Date.now() + (waitMs ?? Number(process.env.PDS_DOCKER_WAIT_MS ?? 20_000));
            let last: string;
            for (;;) {
                try {
                    const r = await docker(["version", "--format", "{{.Server.Version}}"], {
                        allowFail: true,
                        timeoutMs: 15_000,
                    });
                    if (r.code === 0 && r.stdout.trim()) {
                        return undefined;
                    }
                    last = (r.stderr || r.stdout).trim().split("\n").pop() ?? "";
                } catch (e) {
                    last = (e as Error).message;
                }
                if (Date.now() >= deadline) {
                    return last || "docker version printed nothing";
                }
                await new Promise((r) => setTimeout(r, 2000));
            }
        })();
    }
    return daemonProbe;
}

/**
 * Use from a mocha `before(function () { ... })`:
 *
 *     before(async function () { await requireDocker(this); });
 *
 * When no Docker daemon answers (or `opts.image` is missing): with CI=true the
 * hook fails loudly; otherwise the whole suite is skipped with one loud line.
 */
export async function requireDocker(ctx: Mocha.Context, opts: { image?: string | false } = {}): Promise<void> {
    const image = opts.image === undefined ? TEST_IMAGE : opts.image;
    let reason = await dockerUnavailableReason();
    if (!reason && image && !(await imageExists(image))) {
        reason = `image ${image} is missing (build it with: bash .ci/images.sh)`;
    }
    if (!reason) {
        return;
    }
    const title = ctx.test?.parent?.fullTitle() || "engine suite";
    if (process.env.CI === "true") {
        throw new Error(`Docker is required in CI but unusable for "${title}": ${reason}`);
    }
    // One loud line, then skip every test of the suite.
    console.warn(`\n!!!!! SKIPPING "${title}": Docker unusable (${reason}). Run: bash .ci/docker.sh && bash .ci/images.sh`);
    ctx.skip();
}

// ---------------------------------------------------------------------------
// Existence checks

async function inspectOk(kind: string, name: string): Promise<boolean> {
    const r = await docker([kind, "inspect", "--format", "{{.Name}}", name], { allowFail: true });
    return r.code === 0;
}

export function volumeExists(name: string): Promise<boolean> {
    return inspectOk("volume", name);
}

export function containerExists(nameOrId: string): Promise<boolean> {
    return inspectOk("container", nameOrId);
}

export function networkExists(nameOrId: string): Promise<boolean> {
    return inspectOk("network", nameOrId);
}

export async function imageExists(name: string): Promise<boolean> {
    const r = await docker(["image", "inspect", "--format", "{{.Id}}", name], { allowFail: true });
    return r.code === 0;
}

/** `docker inspect` of one object, parsed; undefined when it does not exist. */
export async function inspect(kind: "container" | "volume" | "network" | "image", name: string): Promise<any> {
    const r = await docker([kind, "inspect", name], { allowFail: true });
    if (r.code !== 0) {
        return undefined;
    }
    const parsed = JSON.parse(r.stdout);
    return Array.isArray(parsed) ? parsed[0] : parsed;
}

// ---------------------------------------------------------------------------
// Cleanup

/**
 * Force-remove every container, then volume, then network carrying `label`
 * (`key` or `key=value`). Returns what was removed. Never throws on a single
 * failed removal; it reports it in `failed`.
 */
export async function removeByLabel(
    label: string,
): Promise<{ containers: string[]; volumes: string[]; networks: string[]; failed: string[] }> {
    const failed: string[] = [];
    const list = async (args: string[]): Promise<string[]> => {
        const r = await docker(args, { allowFail: true });
        return r.code === 0
            ? r.stdout
                  .split("\n")
                  .map((s) => s.trim())
                  .filter(Boolean)
            : [];
    };
    const containers = await list(["ps", "-aq", "--no-trunc", "--filter", `label=${label}`]);
    for (const c of containers) {
        const r = await docker(["rm", "-f", "-v", c], { allowFail: true });
        if (r.code !== 0 && !/No such container/i.test(r.stderr)) {
            failed.push(`container ${c}: ${r.stderr.trim()}`);
        }
    }
    const volumes = await list(["volume", "ls", "-q", "--filter", `label=${label}`]);
    for (const v of volumes) {
        const r = await docker(["volume", "rm", "-f", v], { allowFail: true });
        if (r.code !== 0) {
            failed.push(`volume ${v}: ${r.stderr.trim()}`);
        }
    }
    const networks = await list(["network", "ls", "-q", "--filter", `label=${label}`]);
    for (const n of networks) {
        const r = await docker(["network", "rm", n], { allowFail: true });
        if (r.code !== 0) {
            failed.push(`network ${n}: ${r.stderr.trim()}`);
        }
    }
    return { containers, volumes, networks, failed };
}

// ---------------------------------------------------------------------------
// One-shot containers

/** A mount for {@link runInVolume}: `-v` syntax (`vol:/path[:ro]`) or an object. */
export type MountSpec = string | { source: string; target: string; readOnly?: boolean };

export interface RunOptions {
    allowFail?: boolean;
    input?: string | Buffer;
    user?: string;
    env?: Record<string, string>;
    workdir?: string;
    /** Extra `docker run` flags, inserted before the image. */
    extraArgs?: string[];
    /** Label for the (auto-removed) container; default {@link HELPER_LABEL}. */
    label?: string;
}

/**
 * `docker run --rm` `image` with `mounts` and run `cmd` (an argv array, or a
 * string run with `sh -c`). Throws on a non-zero exit unless `allowFail`.
 */
export function runInVolume(
    image: string,
    mounts: MountSpec[] | Record<string, string>,
    cmd: string | string[],
    opts: RunOptions = {},
): Promise<DockerResult> {
    const args = ["run", "--rm", "--label", opts.label ?? HELPER_LABEL, "--network", "none"];
    if (opts.input !== undefined) {
        args.push("-i");
    }
    const list: MountSpec[] = Array.isArray(mounts) ? mounts : Object.entries(mounts).map(([source, target]) => ({ source, target }));
    for (const m of list) {
        if (typeof m === "string") {
            args.push("-v", m);
        } else {
            args.push("-v", `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`);
        }
    }
    if (opts.user) {
        args.push("--user", opts.user);
    }
    if (opts.workdir) {
        args.push("--workdir", opts.workdir);
    }
    for (const [k, v] of Object.entries(opts.env ?? {})) {
        args.push("--env", `${k}=${v}`);
    }
    args.push(...(opts.extraArgs ?? []));
    args.push("--entrypoint", "");
    args.push(image);
    args.push(...(typeof cmd === "string" ? ["/bin/sh", "-c", cmd] : cmd));
    return docker(args, { allowFail: opts.allowFail, input: opts.input });
}

// ---------------------------------------------------------------------------
// Tree digest

// One line per entry, relative to the tree root ("." is the root itself):
//   <path as hex>\t<type>\t<mode octal>\t<uid>:<gid>\t<links>\t<size or ->\t<sha256, symlink target, or ->
// type: d dir, f file, l symlink, p fifo, s socket, b/c devices. Paths are
// hex-encoded so names with newlines or any other byte stay one line. The
// link count makes a lost hard link visible; mtime, atime and inode numbers
// are deliberately left out.
const MANIFEST_SCRIPT = `
set -e
cd "$1"
find . -exec sh -c '
for p; do
  if [ -L "$p" ]; then t=l; elif [ -d "$p" ]; then t=d; elif [ -f "$p" ]; then t=f;
  elif [ -p "$p" ]; then t=p; elif [ -S "$p" ]; then t=s; elif [ -b "$p" ]; then t=b;
  elif [ -c "$p" ]; then t=c; else t=u; fi
  meta=$(stat -c "%a	%u:%g	%h" "$p")
  case "$t" in
    f) s=$(stat -c %s "$p"); h=$(sha256sum < "$p" | cut -d" " -f1) ;;
    l) s=-; h="-> $(readlink "$p" | od -An -tx1 | tr -d " \\n")" ;;
    d) s=-; h=- ;;
    *) s=-; h=- ;;
  esac
  [ "$t" = d ] && meta=$(stat -c "%a	%u:%g	-" "$p")
  printf "%s\\t%s\\t%s\\t%s\\t%s\\n" "$(printf %s "$p" | od -An -tx1 | tr -d " \\n")" "$t" "$meta" "$s" "$h"
done' sh {} + | LC_ALL=C sort
`;

export interface TreeOptions {
    /** Image with busybox (default {@link TEST_IMAGE}). */
    image?: string;
    /** Sub-directory of the volume/path to digest (default: its root). */
    subdir?: string;
}

/**
 * The manifest {@link treeDigest} hashes: one line per entry (path, type,
 * mode, uid:gid, size, sha256 of contents or symlink target), sorted.
 * `volumeOrPath`: a volume name, or an absolute host path (bind-mounted read-only).
 */
export async function treeManifest(volumeOrPath: string, opts: TreeOptions = {}): Promise<string> {
    const source = volumeOrPath.startsWith("/") ? path.resolve(volumeOrPath) : volumeOrPath;
    if (!source.startsWith("/") && !(await volumeExists(source))) {
        // `docker run -v` would silently create an empty volume.
        throw new Error(`treeDigest: volume ${source} does not exist`);
    }
    const root = path.posix.join("/tree", opts.subdir ?? ".");
    const r = await runInVolume(
        opts.image ?? TEST_IMAGE,
        [{ source, target: "/tree", readOnly: true }],
        ["/bin/sh", "-c", MANIFEST_SCRIPT, "manifest", root],
    );
    return r.stdout;
}

/** sha256 over the whole tree's {@link treeManifest}; equal trees give equal digests. */
export async function treeDigest(volumeOrPath: string, opts: TreeOptions = {}): Promise<string> {
    const manifest = await treeManifest(volumeOrPath, opts);
    return createHash("sha256").update(manifest).digest("hex");
}
