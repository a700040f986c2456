// A PersistentStack applied to the real Docker daemon: the program is recorded
// under Pulumi mocks and replayed by the harness (test/helpers/replay.ts), the
// way `pulumi up` and `pulumi destroy` would apply it with the docker provider.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PersistentStack, PersistentStackArgs, resetClaimedNames } from "../../components";
import { docker, removeByLabel, TEST_IMAGE } from "./docker";
import { recordProgram } from "./pulumiMocks";
import { ReplayHarness, UpResult } from "./replay";

/** Project name of every engine-test stack (its objects carry `pds.project=pdse2e`). */
export const engineProject = "pdse2e";

/** A command that keeps a busybox container running and stops at once on TERM. */
export const idle = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"];

/** A long-running test container spec using the local busybox image (never pulled). */
export function idleContainer(extra: Record<string, unknown> = {}) {
    return { image: TEST_IMAGE, pull: false, command: idle, restart: "no", ...extra };
}

/** One stack on the real daemon, with a fresh stack name. */
export class EngineStack {
    readonly stack: string;
    readonly harness = new ReplayHarness();

    constructor(
        what: string,
        readonly component = "app",
    ) {
        this.stack = `${what}-${randomBytes(3).toString("hex")}`;
    }

    /** Docker name of a stack object with the default prefix. */
    name(key: string): string {
        return `${engineProject}-${this.stack}-${key}`;
    }

    /** Label selector of everything this stack owns. */
    get label(): string {
        return `pds.stack=${this.stack}`;
    }

    /** Record the component with `args` and apply it, like `pulumi up`. */
    async up(args: PersistentStackArgs): Promise<UpResult> {
        resetClaimedNames();
        const recording = await recordProgram(() => void new PersistentStack(this.component, args), {
            project: engineProject,
            stack: this.stack,
        });
        return this.harness.up(recording.resources);
    }

    /** Like `pulumi destroy`. */
    destroy(): Promise<void> {
        return this.harness.destroy();
    }

    /** Run a shell command in one of the stack's containers. */
    exec(containerKey: string, script: string, opts: { allowFail?: boolean } = {}) {
        return docker(["exec", this.name(containerKey), "sh", "-c", script], { allowFail: opts.allowFail });
    }

    /** Force-remove whatever the stack left (retained volumes included). */
    async cleanup(): Promise<void> {
        await removeByLabel(this.label);
    }
}

/**
 * Stacks and temporary host directories for one engine suite, removed in the
 * suite's `after` hook (call from inside a `describe`).
 */
export function engineSuite(): { newStack(what: string): EngineStack; tempDir(): string } {
    const stacks: EngineStack[] = [];
    const dirs: string[] = [];
    after(async () => {
        for (const s of stacks) {
            await s.cleanup();
        }
        for (const d of dirs) {
            fs.rmSync(d, { recursive: true, force: true });
        }
    });
    return {
        newStack(what: string) {
            const s = new EngineStack(what);
            stacks.push(s);
            return s;
        },
        tempDir() {
            const d = fs.mkdtempSync(path.join(os.tmpdir(), "pds-engine-"));
            dirs.push(d);
            return d;
        },
    };
}
