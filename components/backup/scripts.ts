// The job scripts (components/backup/scripts/*.sh) as data: read once from
// disk, then shipped into job containers either as uploaded files (the
// long-running backup container) or as a self-extracting bundle on stdin (the
// one-shot jobs run with `docker run -i ... sh -s`).
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "./plan";

/** Where the scripts live inside job containers. */
export const scriptDir = "/usr/local/lib/pds";

/**
 * Commands installed in the backup container's PATH: the script each runs, per
 * engine. Those with a `trigger` run through run-job.sh, which records the
 * result (`status`) and notifies.
 */
export const commands: Record<string, { tar: string; restic: string; trigger?: string }> = {
    "backup-now": { tar: "backup.sh", restic: "restic-backup.sh", trigger: "backup-now" },
    verify: { tar: "verify.sh", restic: "restic-check.sh", trigger: "verify" },
    status: { tar: "status.sh", restic: "status.sh" },
    list: { tar: "list.sh", restic: "restic-list.sh" },
    prune: { tar: "prune.sh", restic: "restic-forget.sh" },
    usage: { tar: "usage.sh", restic: "usage.sh" },
    restore: { tar: "restore-volume.sh", restic: "restore-volume.sh" },
};

const sourceDir = path.join(__dirname, "scripts");

let cache: Record<string, string> | undefined;

/** Every job script by file name. */
export function jobScripts(): Record<string, string> {
    if (!cache) {
        cache = Object.fromEntries(
            fs
                .readdirSync(sourceDir)
                .filter((f) => f.endsWith(".sh"))
                .sort()
                .map((f) => [f, fs.readFileSync(path.join(sourceDir, f), "utf8")]),
        );
    }
    return cache;
}

/** Files to upload into the long-running backup container: scripts plus command wrappers. */
export function scriptUploads(): Array<{ file: string; content: string; executable: boolean }> {
    const scripts = Object.entries(jobScripts()).map(([name, content]) => ({ file: `${scriptDir}/${name}`, content, executable: true }));
    const wrappers = Object.entries(commands).map(([command, script]) => {
        const run = (name: string) => `exec sh ${scriptDir}/${script.trigger ? `run-job.sh ${script.trigger} ${name}` : name} "$@"`;
        return {
            file: `/usr/local/bin/${command}`,
            content:
                script.tar === script.restic
                    ? `#!/bin/sh\n${run(script.tar)}\n`
                    : `#!/bin/sh\ncase "\${BACKUP_ENGINE:-tar}" in\nrestic) ${run(script.restic)} ;;\n*) ${run(script.tar)} ;;\nesac\n`,
            executable: true,
        };
    });
    return [...scripts, ...wrappers];
}

/**
 * The scripts `entry` needs: itself, the scripts named in `args` (run-job.sh
 * runs one), and what they source (`. ".../lib.sh"`), transitively.
 */
export function scriptsNeeded(entry: string, args: string[] = []): string[] {
    const scripts = jobScripts();
    const needed = new Set<string>();
    const visit = (name: string) => {
        if (needed.has(name) || !(name in scripts)) {
            return;
        }
        needed.add(name);
        for (const m of scripts[name].matchAll(/(?:^|[\s(;])\.\s+"[^\n]*\/([\w.-]+\.sh)"/gm)) {
            visit(m[1]);
        }
    };
    [entry, ...args].forEach(visit);
    return [...needed].sort();
}

/**
 * A shell program that writes the job scripts `entry` needs into the container
 * and then runs `entry` with `args`: fed to `sh -s` on stdin. Each script goes
 * in a quoted here-document, so nothing in it is expanded on the way. Exit
 * codes in `tolerate` count as success. Only the needed scripts go in: the
 * command runs as `sh -c <program>`, and one argument may not exceed 128 KiB.
 */
export function scriptBundle(entry: string, args: string[] = [], tolerate: number[] = []): string {
    const scripts = jobScripts();
    if (!(entry in scripts)) {
        throw new Error(`unknown job script ${entry}`);
    }
    const parts = ["set -eu", `mkdir -p ${scriptDir}`, ...scriptWriters(scriptDir, scriptsNeeded(entry, args))];
    const run = [`sh`, `${scriptDir}/${entry}`, ...args].map(shellQuote).join(" ");
    if (tolerate.length) {
        parts.push(`rc=0\n${run} || rc=$?\ncase "$rc" in ${[0, ...tolerate].join("|")}) exit 0 ;; esac\nexit "$rc"`);
    } else {
        parts.push(`exec ${run}`);
    }
    return parts.join("\n") + "\n";
}

/**
 * Shell commands that write the scripts `names` into `dir` (a shell word,
 * e.g. a quoted variable), each in a quoted here-document so that nothing in
 * it is expanded on the way.
 */
export function scriptWriters(dir: string, names: string[]): string[] {
    const scripts = jobScripts();
    const marker = "PDS_SCRIPT_END";
    return names.map((name) => {
        const content = scripts[name];
        if (content === undefined) {
            throw new Error(`unknown job script ${name}`);
        }
        if (content.split("\n").includes(marker)) {
            throw new Error(`${name} contains the here-document marker ${marker}`);
        }
        const text = withoutComments(content);
        return `cat > ${dir}/${name} <<'${marker}'\n${text.endsWith("\n") ? text : text + "\n"}${marker}`;
    });
}

/**
 * A script without its comment-only lines (the shebang stays): about 40% of
 * the scripts, which matters for the one-shot jobs' command line (one
 * argument of `sh -c`, at most 128 KiB). No script has a here-document or a
 * multi-line string with a line that starts with `#` (a unit test checks).
 */
export function withoutComments(script: string): string {
    return script
        .split("\n")
        .filter((line, i) => (i === 0 && line.startsWith("#!")) || !/^\s*#/.test(line))
        .join("\n");
}

/** The line run-job.sh logs once it has recorded and notified a run (NOTIFY_REPORTED in notify.sh). */
export function reportedMarker(): string {
    const m = /^NOTIFY_REPORTED="([^"$`\\]+)"$/m.exec(jobScripts()["notify.sh"]);
    if (!m) {
        throw new Error("notify.sh does not define NOTIFY_REPORTED");
    }
    return `run-job.sh: ${m[1]}`;
}
