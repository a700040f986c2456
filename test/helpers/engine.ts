// A PersistentStack applied to the real Docker daemon by the real Pulumi
// engine: an inline program run through the Automation API (LocalWorkspace,
// local file backend, passphrase secrets), with this project's toolchain and
// provider plugins (test/helpers/toolchain.ts).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent, LocalWorkspace, OpType, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { BackupSpec, PersistentStack, PersistentStackArgs } from "../../components";
import { docker, removeByLabel, TEST_IMAGE } from "./docker";
import { repoRoot } from "./stacks";
import { requireToolchain } from "./toolchain";

/** Project name of every engine-test stack (its objects carry `pds.project=pdse2e`). */
export const engineProject = "pdse2e";

/** The passphrase that protects the engine tests' secrets. */
export const enginePassphrase = "engine-test-passphrase";

/** A command that keeps a busybox container running and stops at once on TERM. */
export const idle = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"];

/** A long-running test container spec using the local busybox image (never pulled). */
export function idleContainer(extra: Record<string, unknown> = {}) {
    return { image: TEST_IMAGE, pull: false, command: idle, restart: "no", ...extra };
}

/** A stack with an app container on volume `data`, backed up (tar) into volume `backups`. */
export function backedUpStack(backup: Partial<BackupSpec> = {}, extra: Partial<PersistentStackArgs> = {}): PersistentStackArgs {
    return {
        protection: { retainOnDelete: false },
        volumes: { data: {}, backups: {} },
        containers: { app: idleContainer({ mounts: [{ type: "volume", volume: "data", target: "/data" }] }) },
        backup: { volumes: ["data"], targetVolume: "backups", image: TEST_IMAGE, pull: false, lockTimeoutSeconds: 60, ...backup },
        ...extra,
    };
}

/** What one `pulumi up` did, by resource URN. */
export interface UpResult {
    created: string[];
    updated: string[];
    replaced: string[];
    deleted: string[];
    /** URN -> outputs of every resource the update created, updated, replaced or left the same. */
    outputs: Map<string, Record<string, any>>;
}

// One local backend per test process; each stack has its own name in it.
let backendDir: string | undefined;
function backendUrl(): string {
    backendDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "pds-engine-state-"));
    return `file://${backendDir}`;
}

/** The environment `pulumi` runs with in engine tests. */
export function engineEnv(): Record<string, string> {
    return {
        PULUMI_BACKEND_URL: backendUrl(),
        PULUMI_CONFIG_PASSPHRASE: enginePassphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        PATH: process.env.PATH ?? "",
    };
}

/** Sort the engine's resource events of one operation into an UpResult. */
export function summarize(events: EngineEvent[]): UpResult {
    const result: UpResult = { created: [], updated: [], replaced: [], deleted: [], outputs: new Map() };
    const bucket: Partial<Record<OpType, string[]>> = {
        create: result.created,
        update: result.updated,
        replace: result.replaced,
        "create-replacement": result.replaced,
        "delete-replaced": result.replaced,
        delete: result.deleted,
    };
    for (const e of events) {
        const step = e.resOutputsEvent?.metadata;
        if (!step || step.type === "pulumi:pulumi:Stack" || step.type.startsWith("pulumi:providers:")) {
            continue;
        }
        const list = bucket[step.op];
        if (list && !list.includes(step.urn)) {
            list.push(step.urn);
        }
        if (step.new?.outputs) {
            result.outputs.set(step.urn, step.new.outputs);
        }
    }
    return result;
}

/** One stack on the real daemon, with a fresh stack name. */
export class EngineStack {
    readonly stack: string;
    readonly workDir: string;
    private auto?: Promise<Stack>;

    constructor(
        what: string,
        readonly component = "app",
    ) {
        this.stack = `${what}-${randomBytes(3).toString("hex")}`;
        // Under the repository, so plugins started in it (the dynamic-provider
        // launcher) find the project's node_modules.
        this.workDir = path.join(repoRoot, "test", ".work", this.stack);
    }

    /** Docker name of a stack object with the default prefix. */
    name(key: string): string {
        return `${engineProject}-${this.stack}-${key}`;
    }

    /** Label selector of everything this stack owns. */
    get label(): string {
        return `pds.stack=${this.stack}`;
    }

    /** The Automation API stack, created on first use, running `program`. */
    async select(program: PulumiFn): Promise<Stack> {
        if (!this.auto) {
            fs.mkdirSync(this.workDir, { recursive: true });
            this.auto = LocalWorkspace.createOrSelectStack(
                { stackName: this.stack, projectName: engineProject, program },
                {
                    workDir: this.workDir,
                    envVars: engineEnv(),
                    projectSettings: { name: engineProject, runtime: "nodejs", backend: { url: backendUrl() } },
                },
            );
        }
        const stack = await this.auto;
        stack.workspace.program = program;
        return stack;
    }

    /** The program of a PersistentStack with `args`, exporting its outputs. */
    program(args: PersistentStackArgs): PulumiFn {
        return async () => {
            const s = new PersistentStack(this.component, args);
            return {
                volumeNames: s.volumeNames,
                containerNames: s.containerNames,
                networkName: s.networkName,
                backupContainerName: s.backupContainerName,
                diskUsage: s.diskUsage,
            };
        };
    }

    /** `pulumi up` of the component with `args`. */
    async up(args: PersistentStackArgs): Promise<UpResult> {
        return this.upProgram(this.program(args));
    }

    /** `pulumi up` of any inline program on this stack. */
    async upProgram(program: PulumiFn): Promise<UpResult> {
        const stack = await this.select(program);
        const events: EngineEvent[] = [];
        await stack.up({ onEvent: (e) => events.push(e), color: "never" });
        return summarize(events);
    }

    /** `pulumi preview` of the component with `args`: the change counts by operation. */
    async preview(args: PersistentStackArgs, opts: { expectNoChanges?: boolean } = {}) {
        const stack = await this.select(this.program(args));
        const r = await stack.preview({ color: "never", expectNoChanges: opts.expectNoChanges });
        return r.changeSummary;
    }

    /** `pulumi refresh`. */
    async refresh() {
        const stack = await this.select(async () => undefined);
        const r = await stack.refresh({ color: "never" });
        return r.summary.resourceChanges;
    }

    /** `pulumi destroy`. */
    async destroy(): Promise<UpResult> {
        const stack = await this.select(async () => undefined);
        const events: EngineEvent[] = [];
        await stack.destroy({ onEvent: (e) => events.push(e), color: "never" });
        return summarize(events);
    }

    /**
     * The resources in the stack's state as `pulumi stack export` prints them:
     * secrets stay encrypted (the Automation API's exportStack shows them).
     */
    async resources(): Promise<{ urn: string; type: string; outputs?: Record<string, any> }[]> {
        await this.select(async () => undefined);
        const out = execFileSync("pulumi", ["stack", "export", "--stack", this.stack], {
            cwd: this.workDir,
            env: { ...process.env, ...engineEnv() },
            encoding: "utf8",
            maxBuffer: 256 * 1024 * 1024,
        });
        return JSON.parse(out).deployment.resources ?? [];
    }

    /** The state's resource whose name (last URN part) is `name`. */
    async resource(name: string) {
        const found = (await this.resources()).find((r) => r.urn.endsWith(`::${name}`));
        if (!found) {
            throw new Error(`no resource named ${name} in stack ${this.stack}`);
        }
        return found;
    }

    /** Run a shell command in one of the stack's containers. */
    exec(containerKey: string, script: string, opts: { allowFail?: boolean } = {}) {
        return docker(["exec", this.name(containerKey), "sh", "-c", script], { allowFail: opts.allowFail });
    }

    /** Force-remove whatever the stack left (retained volumes included), and its state. */
    async cleanup(): Promise<void> {
        await removeByLabel(this.label);
        if (this.auto) {
            const stack = await this.auto.catch(() => undefined);
            await stack?.workspace.removeStack(this.stack, { force: true }).catch(() => undefined);
        }
        fs.rmSync(this.workDir, { recursive: true, force: true });
    }
}

/**
 * Stacks and temporary host directories for one engine suite, removed in the
 * suite's `after` hook (call from inside a `describe`). The suite needs the
 * Pulumi toolchain: missing, it fails under CI=true and skips loudly otherwise.
 */
export function engineSuite(): { newStack(what: string): EngineStack; tempDir(): string } {
    const stacks: EngineStack[] = [];
    const dirs: string[] = [];
    before(function () {
        requireToolchain(this);
    });
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
