// Restic on the same volume, when the pds-test/restic image exists: a first
// backup into an empty repository on a fresh volume (init included), a second
// backup of unchanged data, then one after about 1% of the data changed. Each
// round also runs the seed's backup one-liner as this phase's baseline.
//
// When components/backup has a restic engine (an exported function whose name
// mentions restic, or an exported engine table with a `restic` entry), the
// component's job is measured: planned with engine "restic" and run exactly
// like its pre-deploy backup (init when missing, backup, retention), reported
// as "restic (component)". Otherwise, or if that job fails on the first run,
// restic runs directly (`restic init` + `restic backup`): "restic (direct)".
import * as fs from "node:fs";
import * as path from "node:path";
import { shellQuote } from "../components/backup/plan";
import {
    BenchPlanOptions,
    ComponentJob,
    componentBackupJob,
    dockerLine,
    PhaseContext,
    planBench,
    seedBackupCommand,
    targetContents,
} from "./backup";
import { mutateDataset } from "./dataset";
import { createVolume, labelFlags, removeVolume, RESTIC_IMAGE, syncDisks, timedShell, treeBytes } from "./exec";
import { max, mbps, median, min, ratio, roundOrder } from "./stats";

const PASSWORD = "pds-bench-not-a-secret";

export interface ResticEngine {
    module: string;
    exportName: string;
}

/** The component's restic engine, if components/backup has one. */
export async function findResticEngine(): Promise<ResticEngine | undefined> {
    const dir = path.join(__dirname, "..", "components", "backup");
    const files = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
        .sort();
    for (const file of files) {
        const mod: Record<string, unknown> = await import(path.join(dir, file));
        for (const [name, value] of Object.entries(mod)) {
            const isResticFunction = typeof value === "function" && /restic/i.test(name);
            const isEngineTable =
                typeof value === "object" && value !== null && typeof (value as Record<string, unknown>).restic === "object";
            if (isResticFunction || isEngineTable) {
                return { module: `components/backup/${file}`, exportName: isEngineTable ? `${name}.restic` : name };
            }
        }
    }
    return undefined;
}

/** How one backup into the repository volume is started. */
type ResticRunner = (repoVolume: string, first: boolean) => Promise<ComponentJob>;

function directRunner(runId: string, dataVolume: string): ResticRunner {
    return async (repo, first) => {
        const restic = "restic --no-cache backup --host pds-bench --json /data";
        const script = first ? `restic --no-cache init -q && ${restic}` : restic;
        const command = [
            "docker",
            "run",
            "--rm",
            ...labelFlags(runId),
            "--network",
            "none",
            "-v",
            `${dataVolume}:/data:ro`,
            "-v",
            `${repo}:/repo`,
            "-e",
            `RESTIC_PASSWORD=${PASSWORD}`,
            "-e",
            "RESTIC_REPOSITORY=/repo",
            RESTIC_IMAGE,
            "sh",
            "-c",
            script,
        ]
            .map(shellQuote)
            .join(" ");
        return { command, environment: {} };
    };
}

/** The component's restic backup job (its pre-deploy backup with engine "restic"); throws if the component refuses it. */
function componentRunner(runId: string, dataVolume: string): ResticRunner {
    const options: BenchPlanOptions = { engine: "restic", image: RESTIC_IMAGE, backup: { restic: { password: PASSWORD } } };
    // Validate now, so a refusal shows before anything runs.
    planBench(runId, { data: dataVolume, target: `pdsb-${runId}-probe` }, options);
    return (repo) => componentBackupJob(runId, dataVolume, repo, options);
}

/** The summary line of `restic backup --json`, when present. */
function resticSummary(stdout: string): Record<string, number | string> | undefined {
    for (const line of stdout.trim().split("\n").reverse()) {
        try {
            const parsed = JSON.parse(line);
            if (parsed?.message_type === "summary") {
                return parsed;
            }
        } catch {
            // not JSON (the component's log lines)
        }
    }
    return undefined;
}

export interface ResticStep {
    seconds: number;
    mbps: number;
    /** Repository bytes after this step. */
    repoBytes: number;
    /** Repository growth in this step. */
    addedBytes: number;
    summary?: Record<string, number | string>;
}

export interface ResticSample {
    round: number;
    position: number;
    first: ResticStep;
    unchanged: ResticStep;
    changed: ResticStep;
    /** Bytes of the data set rewritten before the third step. */
    changedDataBytes: number;
}

export interface SeedSample {
    variant: "seed";
    round: number;
    position: number;
    seconds: number;
    mbps: number;
    archiveBytes: number;
}

export interface ResticPhase {
    available: boolean;
    label: string;
    engine: "component" | "direct";
    /** Why the component engine was not used, when one was found. */
    engineNote?: string;
    samples: ResticSample[];
    seedSamples: SeedSample[];
    summary?: {
        seedMedianSeconds: number;
        seedMedianArchiveBytes: number;
        steps: Array<{
            step: "first" | "unchanged" | "changed";
            label: string;
            medianSeconds: number;
            minSeconds: number;
            maxSeconds: number;
            mbps: number;
            speedVsSeed: number;
            /** Median over rounds of (seed seconds / this step's seconds) in the same round. */
            pairedSpeedVsSeed: number;
            medianAddedBytes: number;
            addedVsSeedArchive: number;
        }>;
        medianChangedDataBytes: number;
    };
    commands: Record<string, string>;
}

export async function runResticPhase(ctx: PhaseContext, available: boolean): Promise<ResticPhase> {
    const { runId, dataset } = ctx;
    const engine = await findResticEngine();
    let runner = directRunner(runId, dataset.volume);
    let kind: "component" | "direct" = "direct";
    let engineNote: string | undefined;
    if (engine) {
        try {
            runner = componentRunner(runId, dataset.volume);
            kind = "component";
        } catch (e) {
            engineNote = `${engine.module} exports ${engine.exportName}, but the component refused engine "restic": ${(e as Error).message.split("\n")[0]}`;
        }
    }
    const phase: ResticPhase = {
        available,
        label: kind === "component" ? "restic (component)" : "restic (direct)",
        engine: kind,
        engineNote,
        samples: [],
        seedSamples: [],
        commands: {},
    };
    if (!available) {
        return phase;
    }
    let counter = 0;
    for (let round = 0; round < ctx.reps; round++) {
        for (const [position, variant] of roundOrder(["seed", "restic"] as const, round).entries()) {
            const volume = `pdsb-${runId}-x${++counter}`;
            await createVolume(volume, runId);
            if (variant === "seed") {
                const command = seedBackupCommand(runId, dataset.volume, volume);
                const r = await timedShell(command);
                const contents = await targetContents(runId, volume);
                phase.seedSamples.push({
                    variant,
                    round,
                    position,
                    seconds: r.seconds,
                    mbps: mbps(dataset.bytes, r.seconds),
                    archiveBytes: contents.archiveBytes,
                });
                ctx.log(`  restic round ${round + 1}/${ctx.reps} seed (baseline)  ${r.seconds.toFixed(2)} s`);
            } else {
                let repoBytes = 0;
                const step = async (first: boolean): Promise<ResticStep> => {
                    const job = await runner(volume, first);
                    phase.commands[first ? "first" : "next"] = dockerLine(job.command).split(volume).join("<repository volume>");
                    const r = await timedShell(job.command, { env: job.environment });
                    const after = (await treeBytes(runId, volume)).bytes;
                    const added = after - repoBytes;
                    repoBytes = after;
                    await syncDisks(runId);
                    return {
                        seconds: r.seconds,
                        mbps: mbps(dataset.bytes, r.seconds),
                        repoBytes: after,
                        addedBytes: added,
                        summary: resticSummary(r.stdout),
                    };
                };
                let first: ResticStep;
                try {
                    first = await step(true);
                } catch (e) {
                    // The component's engine is preferred, but a job that does not run
                    // (yet) must not cost the measurement: fall back to restic directly.
                    if (phase.engine !== "component" || phase.samples.length > 0) {
                        throw e;
                    }
                    phase.engineNote = `${engine?.module} exports ${engine?.exportName}, but its restic job failed (${(e as Error).message.split("\n")[0].slice(0, 200)}); measured restic directly`;
                    phase.engine = "direct";
                    phase.label = "restic (direct)";
                    runner = directRunner(runId, dataset.volume);
                    await removeVolume(volume);
                    await createVolume(volume, runId);
                    repoBytes = 0;
                    first = await step(true);
                }
                const unchanged = await step(false);
                const changedDataBytes = await mutateDataset(runId, dataset, 0.01, round);
                const changed = await step(false);
                phase.samples.push({ round, position, first, unchanged, changed, changedDataBytes });
                ctx.log(
                    `  restic round ${round + 1}/${ctx.reps} ${phase.label}  first ${first.seconds.toFixed(2)} s, unchanged ${unchanged.seconds.toFixed(2)} s, ` +
                        `1% changed ${changed.seconds.toFixed(2)} s (+${(changed.addedBytes / 1e6).toFixed(1)} MB)`,
                );
            }
            await removeVolume(volume);
            await syncDisks(runId);
        }
    }
    const seedMedian = median(phase.seedSamples.map((s) => s.seconds));
    const seedArchive = median(phase.seedSamples.map((s) => s.archiveBytes));
    const labels = {
        first: phase.engine === "component" ? "first backup (job inits repo)" : "init + first backup",
        unchanged: "second backup, unchanged",
        changed: "backup after 1% changed",
    } as const;
    phase.summary = {
        seedMedianSeconds: seedMedian,
        seedMedianArchiveBytes: seedArchive,
        steps: (["first", "unchanged", "changed"] as const).map((step) => {
            const seconds = median(phase.samples.map((s) => s[step].seconds));
            const added = median(phase.samples.map((s) => s[step].addedBytes));
            return {
                step,
                label: labels[step],
                medianSeconds: seconds,
                minSeconds: min(phase.samples.map((s) => s[step].seconds)),
                maxSeconds: max(phase.samples.map((s) => s[step].seconds)),
                mbps: mbps(dataset.bytes, seconds),
                speedVsSeed: ratio(seedMedian, seconds),
                pairedSpeedVsSeed: median(
                    phase.samples.map((s) => ratio(phase.seedSamples.find((x) => x.round === s.round)?.seconds ?? NaN, s[step].seconds)),
                ),
                medianAddedBytes: added,
                addedVsSeedArchive: ratio(added, seedArchive),
            };
        }),
        medianChangedDataBytes: median(phase.samples.map((s) => s.changedDataBytes)),
    };
    return phase;
}
