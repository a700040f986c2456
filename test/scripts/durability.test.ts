// backup.sh durability, by fault injection: `sync` and `mv` on PATH are
// wrappers that run the real busybox applet and then record the call together
// with every file in the target dir and its sha256 at that moment. busybox sh
// would run its built-in applets and never see the wrappers, so here the
// script runs under dash (POSIX sh, which looks commands up on PATH), with the
// busybox applets as its only other commands, as in the job image. The tests
// read that trace as a sequence of observable events, so they hold whatever
// order the script's internals take, as long as:
//   - the archive's complete content and both sidecars are fsynced before the
//     archive appears under its final name, and the directory after it;
//   - the archive appears under its final name last, when its checksum and
//     manifest are already in place with their final content;
//   - a failing fsync or rename fails the volume and leaves no archive under a
//     final name.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { missingCapability } from "../helpers/capability";
import { BUSYBOX, runScript, Sandbox, sha256File, T, wrappedToolDir } from "./helpers";

const DASH = "/bin/dash";

interface TraceEvent {
    command: string;
    status: number;
    args: string[];
    /** Files in the target dir right after the call: name -> sha256. */
    files: Map<string, string>;
}

/**
 * A `sync` or `mv` that runs busybox's, then appends to `log`. With `failWhen`
 * (a shell `case` pattern matched against each argument, and against "" so
 * that "*" also fails a call without arguments) it fails instead, without
 * doing anything, when one matches.
 */
function tracer(command: string, target: string, log: string, failWhen?: string): string {
    const fail = failWhen
        ? `for a in "" "$@"; do case "$a" in ${failWhen}) echo "${command}: injected failure on '$a'" >&2; rc=1 ;; esac; done\n`
        : "";
    return `rc=0
${fail}[ "$rc" -ne 0 ] || ${BUSYBOX} ${command} "$@" || rc=$?
{
	printf 'CALL %s %s\\n' ${command} "$rc"
	for a in "$@"; do printf 'ARG %s\\n' "$a"; done
	for f in "${target}"/* "${target}"/.[!.]*; do
		[ -f "$f" ] || continue
		printf 'FILE %s %s\\n' "$(${BUSYBOX} sha256sum <"$f" | ${BUSYBOX} cut -d ' ' -f 1)" "\${f##*/}"
	done
	echo END
} >>"${log}"
exit "$rc"
`;
}

function readTrace(log: string): TraceEvent[] {
    const events: TraceEvent[] = [];
    let current: TraceEvent | undefined;
    for (const line of fs.readFileSync(log, "utf8").split("\n")) {
        const [kind, ...rest] = line.split(" ");
        if (kind === "CALL") {
            current = { command: rest[0], status: Number(rest[1]), args: [], files: new Map() };
        } else if (kind === "ARG") {
            current!.args.push(rest.join(" "));
        } else if (kind === "FILE") {
            current!.files.set(rest.slice(1).join(" "), rest[0]);
        } else if (kind === "END") {
            events.push(current!);
        }
    }
    return events;
}

/** Does this sync call flush a file whose content (at that moment) has `sha`? */
function syncsContent(e: TraceEvent, sha: string): boolean {
    if (e.command !== "sync" || e.status !== 0) return false;
    const files = e.args.filter((a) => !a.startsWith("-"));
    const hasContent = (name: string) => e.files.get(name) === sha;
    if (files.length === 0) return [...e.files.keys()].some(hasContent); // a global sync flushes everything
    return files.some((f) => hasContent(path.basename(f)));
}

describe("backup.sh durability (fault injection: traced sync and mv)", () => {
    let sb: Sandbox;
    let log: string;
    const name = `prod-db-${T(1)}.tar.gz`;
    before(function () {
        if (!fs.existsSync(DASH)) missingCapability(this, `run ${DASH} (apt-get install dash)`);
    });
    beforeEach(() => {
        sb = new Sandbox("prod");
        sb.volume("db", { "a.txt": "alpha", "sub/b.txt": "beta" });
        log = path.join(sb.root, "trace.log");
        fs.writeFileSync(log, "");
    });
    afterEach(() => sb.cleanup());

    function traced(fail: { sync?: string; mv?: string } = {}) {
        const tools = wrappedToolDir(sb.root, {
            sync: tracer("sync", sb.target, log, fail.sync),
            mv: tracer("mv", sb.target, log, fail.mv),
        });
        const r = runScript("backup.sh", sb.env({ BACKUP_TIMESTAMP: T(1), BACKUP_KEEP_LAST: "0" }), [], {
            pathDir: tools,
            shell: DASH,
        });
        return { r, events: readTrace(log) };
    }

    /** Index of the first event after which the archive exists under its final name. */
    function finalAppearance(events: TraceEvent[]): number {
        const i = events.findIndex((e) => e.files.has(name));
        assert.ok(i >= 0, `${name} appeared through a traced sync or mv; trace:\n${fs.readFileSync(log, "utf8")}`);
        return i;
    }

    it("fsyncs the archive's complete content and both sidecars before the archive gets its final name, and the directory after", () => {
        const { r, events } = traced();
        assert.equal(r.status, 0, r.stderr);
        const archiveSha = sha256File(sb.file(name));
        const shaSha = sha256File(sb.file(`${name}.sha256`));
        const manifestSha = sha256File(sb.file(`${name}.manifest.json`));
        const before = events.slice(0, finalAppearance(events));
        assert.ok(
            before.some((e) => syncsContent(e, archiveSha)),
            "a sync of the archive, with its final content, before it is renamed into place",
        );
        assert.ok(
            before.some((e) => syncsContent(e, shaSha)),
            "a sync of the checksum file before the archive is renamed into place",
        );
        assert.ok(
            before.some((e) => syncsContent(e, manifestSha)),
            "a sync of the manifest before the archive is renamed into place",
        );
        const after = events.slice(finalAppearance(events));
        assert.ok(
            after.some(
                (e) =>
                    e.command === "sync" && e.status === 0 && [sb.target, undefined].includes(e.args.filter((a) => !a.startsWith("-"))[0]),
            ),
            "a sync of the target directory (or a global sync) persists the renames",
        );
    });

    it("gives the archive its final name last, with its verified checksum and its manifest already in place", () => {
        const { r, events } = traced();
        assert.equal(r.status, 0, r.stderr);
        const appeared = events[finalAppearance(events)];
        assert.equal(appeared.command, "mv", "the archive is renamed into place, not written there");
        assert.equal(appeared.files.get(name), sha256File(sb.file(name)), "complete when it gets its name");
        assert.equal(appeared.files.get(`${name}.sha256`), sha256File(sb.file(`${name}.sha256`)), "the checksum file is in place first");
        assert.equal(
            appeared.files.get(`${name}.manifest.json`),
            sha256File(sb.file(`${name}.manifest.json`)),
            "the manifest is in place first",
        );
        assert.equal(
            fs.readFileSync(sb.file(`${name}.sha256`), "utf8"),
            `${sha256File(sb.file(name))}  ${name}\n`,
            "the checksum in place is the archive's",
        );
        assert.deepEqual(
            [...appeared.files.keys()].filter((n) => n.includes(".partial-")),
            [],
            "nothing of the run is left to rename after the archive",
        );
    });

    it("fails the volume and leaves no archive when the fsync fails", () => {
        sb.backup({ BACKUP_TIMESTAMP: T(0) });
        const earlier = sb.targetFiles();
        const { r, events } = traced({ sync: "*" });
        assert.ok(
            events.some((e) => e.command === "sync" && e.status !== 0),
            "the injected failure was hit",
        );
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /^backup\.sh: error: volume db: .*sync/m);
        assert.match(r.stderr, /^backup\.sh: error: backup failed for volume\(s\): db$/m);
        assert.deepEqual(sb.targetFiles(), earlier, "no new file, final or partial");
    });

    it("leaves no archive under a final name when the final rename fails, and the next run removes the orphan sidecars", () => {
        const { r } = traced({ mv: `*/${name}` });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /^backup\.sh: error: volume db: /m);
        assert.ok(!fs.existsSync(sb.file(name)), "no archive under its final name");
        assert.deepEqual(
            sb.targetFiles().filter((n) => n.includes(".partial-")),
            [],
            "no partial file left",
        );

        const next = sb.run("backup.sh", { BACKUP_TIMESTAMP: T(2), BACKUP_KEEP_LAST: "0" });
        assert.equal(next.status, 0, next.stderr);
        const archive2 = `prod-db-${T(2)}.tar.gz`;
        assert.deepEqual(sb.targetFiles(), [archive2, `${archive2}.manifest.json`, `${archive2}.sha256`]);
    });
});
