// Backup and restore throughput: the component's job against the seed's
// one-liner, on the same volume, in alternating rounds.
//
// The component's commands are exactly what its one-shot jobs run: validated
// args -> planStack -> planBackup -> planJob (as persistentStack.ts builds the
// pre-deploy backup) or the restore job (as jobs.ts restoreJob builds it) ->
// jobCommand, i.e. dockerRunCommand fed scriptBundle(<engine script>) (and any
// secret files) on stdin, resolved to the `sh -c` command line and environment
// that the @pulumi/command resource would run.
import * as pulumi from "@pulumi/pulumi";
import { jobCommand, JobRun, planJob } from "../components/backup/jobs";
import { planBackup, planRestores, shellQuote } from "../components/backup/plan";
import { validateStackArgs } from "../components/config/schema";
import { planStack } from "../components/plan";
import type { Dataset } from "./dataset";
import { BUSYBOX_IMAGE, createVolume, labelFlags, listVolumeFiles, removeVolume, syncDisks, timedShell, treeBytes } from "./exec";
import { max, mbps, median, min, ratio, roundOrder } from "./stats";

/** The component's compression modes. */
export const compressions = ["gzip", "zstd", "none"] as const;
export type Compression = (typeof compressions)[number];

export type BackupVariant = "raw" | "seed" | "bare-zstd" | "bare-none" | `component-${Compression}`;
export type RestoreVariant = "seed" | "component";

export const backupVariants: BackupVariant[] = [
    "raw",
    "seed",
    "bare-zstd",
    "bare-none",
    "component-gzip",
    "component-zstd",
    "component-none",
];
export const restoreVariants: RestoreVariant[] = ["seed", "component"];

export const variantLabels: Record<string, string> = {
    raw: "raw tar ceiling (tar cf - | cat)",
    seed: "seed one-liner (tar czf)",
    "bare-zstd": "bare tar | zstd -3 -T0 > file",
    "bare-none": "bare tar > file",
    "component-gzip": "component job, gzip",
    "component-zstd": "component job, zstd",
    "component-none": "component job, none",
};

/** Component name, project and archive prefix of the bench's plans. */
const benchProject = "pds-bench";
const benchPrefix = "pds-bench";

export interface PhaseContext {
    runId: string;
    dataset: Dataset;
    reps: number;
    log: (line: string) => void;
}

/** A one-shot job of the component: the shell command its Command resource runs, and that command's environment. */
export interface ComponentJob {
    command: string;
    environment: Record<string, string>;
}

function resolved<T>(value: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
    return new Promise((resolve) =>
        pulumi.output(value).apply((v) => {
            resolve(v);
            return v;
        }),
    );
}

/** jobs.ts jobCommand of `job`, resolved (outside a deployment every value is known). */
export async function resolveJob(job: JobRun): Promise<ComponentJob> {
    const run = jobCommand(job);
    const environment: Record<string, string> = {};
    for (const [k, v] of Object.entries(run.environment)) {
        environment[k] = String(await resolved(v));
    }
    return { command: String(await resolved(run.command)), environment };
}

/** A job's command for the record: the script bundle's here-document body left out, on one line. */
export function dockerLine(command: string): string {
    const open = "<<'PDS_BUNDLE'\n";
    const close = "\nPDS_BUNDLE\n";
    const start = command.indexOf(open);
    const end = start < 0 ? -1 : command.indexOf(close, start);
    const short = end < 0 ? command : `${command.slice(0, start)}<<'PDS_BUNDLE' [script bundle] ${command.slice(end + close.length)}`;
    return short.replace(/\s*\n\s*/g, " ").trim();
}

export interface BenchPlanOptions {
    compression?: Compression;
    restoreFrom?: string;
    engine?: string;
    image?: string;
    /** Extra backup settings, e.g. `restic: { password }`. */
    backup?: Record<string, unknown>;
}

/**
 * Plan a stack with the data volume, a target volume and (optionally) a
 * restore volume, as a user would declare it: backup of `data` into the
 * dedicated volume `backups`, with a local image, not pulled.
 */
export function planBench(runId: string, volumes: { data: string; target: string; restore?: string }, options: BenchPlanOptions = {}) {
    const { compression = "gzip", restoreFrom, engine, image = BUSYBOX_IMAGE } = options;
    const ctx = { project: benchProject, stack: runId, component: "bench" };
    const args = validateStackArgs(
        {
            namePrefix: benchPrefix,
            volumes: {
                data: { name: volumes.data },
                backups: { name: volumes.target },
                ...(volumes.restore ? { restore: { name: volumes.restore } } : {}),
            },
            backup: {
                volumes: ["data"],
                targetVolume: "backups",
                image,
                pull: false,
                // restic compresses on its own; the tar engine's setting is refused there.
                ...(engine === "restic" ? {} : { compression }),
                ...(engine ? { engine } : {}),
                ...options.backup,
            },
            ...(restoreFrom ? { restores: [{ volume: "restore", from: restoreFrom, sourceVolume: "data" }] } : {}),
        },
        "bench stack",
    );
    const stack = planStack(args, ctx);
    const backup = planBackup(args.backup, stack, ctx, args.labels);
    if (!backup) {
        throw new Error("bench: planBackup returned no plan");
    }
    return { args, stack, backup, ctx };
}

/** The component's pre-deploy backup job of the data volume (persistentStack.ts, gatingBackup). */
export function componentBackupJob(
    runId: string,
    dataVolume: string,
    targetVolume: string,
    options: Omit<BenchPlanOptions, "restoreFrom"> = {},
): Promise<ComponentJob> {
    const { backup } = planBench(runId, { data: dataVolume, target: targetVolume }, options);
    const backedUp = ["data"];
    // pull: false, so the job image is the configured name itself.
    const job = planJob(backup, pulumi.output(backup.image), backup.scripts.backup, {
        volumes: backedUp,
        env: { BACKUP_VOLUMES: backedUp.join(" "), BACKUP_SKIP_EMPTY: "true" },
        socket: backup.hooks,
    });
    return resolveJob(job);
}

/** The component's restore job of `archive` from `targetVolume` into `restoreVolume` (jobs.ts restoreJob). */
export function componentRestoreJob(
    runId: string,
    dataVolume: string,
    targetVolume: string,
    restoreVolume: string,
    archive: string,
): Promise<ComponentJob> {
    const planned = planBench(runId, { data: dataVolume, target: targetVolume, restore: restoreVolume }, { restoreFrom: archive });
    const backup = planned.backup;
    const [restore] = planRestores(planned.args.restores, backup, planned.stack);
    return resolveJob({
        image: backup.image,
        env: restore.env,
        mounts: restore.mounts,
        labels: restore.labels,
        script: backup.scripts.restore,
        network: backup.network,
        secretFiles: backup.secretFiles,
        secretEnv: backup.secretEnv,
    });
}

/** Container labels of the component's jobs, as `docker ps` filters (for cleanup). */
export function componentJobFilters(runId: string): string[][] {
    return [[`label=pds.project=${benchProject}`, `label=pds.stack=${runId}`]];
}

/** The seed's backup one-liner (plus the bench's labels, for cleanup). */
export function seedBackupCommand(runId: string, dataVolume: string, targetVolume: string): string {
    return [
        "docker",
        "run",
        "--rm",
        ...labelFlags(runId),
        "-v",
        `${dataVolume}:/data`,
        "-v",
        `${targetVolume}:/backup`,
        BUSYBOX_IMAGE,
        "tar",
        "czf",
        "/backup/backup.tar.gz",
        "/data",
    ]
        .map(shellQuote)
        .join(" ");
}

/** The seed's restore one-liner: the archive holds `data/...`, extracted at `/`. */
export function seedRestoreCommand(runId: string, restoreVolume: string, targetVolume: string): string {
    return [
        "docker",
        "run",
        "--rm",
        ...labelFlags(runId),
        "-v",
        `${restoreVolume}:/data`,
        "-v",
        `${targetVolume}:/backup`,
        BUSYBOX_IMAGE,
        "tar",
        "xzf",
        "/backup/backup.tar.gz",
        "-C",
        "/",
    ]
        .map(shellQuote)
        .join(" ");
}

/**
 * The bare pipeline of a compression mode, in the same image on the same data:
 * what the job would cost without any of its safety (gzip's is the seed).
 */
export function bareCommand(runId: string, dataVolume: string, targetVolume: string, compression: "zstd" | "none"): string {
    const pipeline =
        compression === "zstd"
            ? "cd /data && tar cf - . | zstd -3 -T0 -q -c > /backup/bare.tar.zst"
            : "cd /data && tar cf - . > /backup/bare.tar";
    return [
        "docker",
        "run",
        "--rm",
        ...labelFlags(runId),
        "-v",
        `${dataVolume}:/data:ro`,
        "-v",
        `${targetVolume}:/backup`,
        BUSYBOX_IMAGE,
        "sh",
        "-c",
        pipeline,
    ]
        .map(shellQuote)
        .join(" ");
}

/** The raw ceiling: read the whole volume as one tar stream and throw it away. */
export function rawCeilingCommand(runId: string, dataVolume: string): string {
    return [
        "docker",
        "run",
        "--rm",
        ...labelFlags(runId),
        "-v",
        `${dataVolume}:/data:ro`,
        BUSYBOX_IMAGE,
        "sh",
        "-c",
        "cd /data && tar cf - . | cat > /dev/null",
    ]
        .map(shellQuote)
        .join(" ");
}

/** What a target volume holds after a run: the archive's name and size, and all bytes. */
export async function targetContents(
    runId: string,
    volume: string,
): Promise<{ archive?: string; archiveBytes: number; storedBytes: number }> {
    let archive: string | undefined;
    let archiveBytes = 0;
    let storedBytes = 0;
    for (const file of await listVolumeFiles(runId, volume)) {
        storedBytes += file.size;
        const name = file.path.split("/").pop() ?? "";
        if (/\.tar(\.gz|\.zst)?$/.test(name) && !name.startsWith(".")) {
            archive = name;
            archiveBytes = file.size;
        }
    }
    return { archive, archiveBytes, storedBytes };
}

export interface BackupSample {
    variant: BackupVariant;
    round: number;
    /** Position in the round's order (0 = ran first). */
    position: number;
    seconds: number;
    mbps: number;
    /** Bytes of the archive (0 for the raw ceiling, which stores nothing). */
    archiveBytes: number;
    /** Everything written to the target: archive plus sidecars (checksum, manifest, lock). */
    storedBytes: number;
    archive?: string;
}

export interface VariantSummary {
    variant: string;
    label: string;
    samples: number;
    medianSeconds: number;
    minSeconds: number;
    maxSeconds: number;
    /** Data bytes / median seconds. */
    mbps: number;
    /** Seed median seconds / this median seconds (> 1: faster than the seed). */
    speedVsSeed: number;
    /** Median over rounds of (seed seconds / this seconds) in the same round. */
    pairedSpeedVsSeed: number;
    /** Raw-ceiling median seconds / this median seconds (backup only). */
    fractionOfCeiling?: number;
    /**
     * This median seconds / the median seconds of the bare pipeline of the same
     * compression (component jobs only; gzip's bare pipeline is the seed).
     */
    vsBare?: number;
    medianArchiveBytes?: number;
    medianStoredBytes?: number;
    /** Archive bytes / seed archive bytes. */
    storedVsSeed?: number;
    /** Data bytes / archive bytes. */
    compressionRatio?: number;
}

export interface BackupPhase {
    samples: BackupSample[];
    summary: VariantSummary[];
    /** Target volumes kept for the restore phase. */
    kept: { seedTarget: string; componentTarget: string; componentArchive: string };
    commands: Record<string, string>;
}

function pairedRatio<T extends { variant: string; round: number; seconds: number }>(
    samples: T[],
    baseline: string,
    variant: string,
): number {
    const byRound = new Map<number, { base?: number; v?: number }>();
    for (const s of samples) {
        const entry = byRound.get(s.round) ?? {};
        if (s.variant === baseline) entry.base = s.seconds;
        if (s.variant === variant) entry.v = s.seconds;
        byRound.set(s.round, entry);
    }
    const ratios = [...byRound.values()]
        .filter((e) => e.base !== undefined && e.v !== undefined)
        .map((e) => ratio(e.base ?? NaN, e.v ?? NaN));
    return median(ratios);
}

/** Alternate raw ceiling, seed and the component's three modes, `reps` rounds. */
export async function runBackupPhase(ctx: PhaseContext): Promise<BackupPhase> {
    const { runId, dataset } = ctx;
    const samples: BackupSample[] = [];
    const commands: Record<string, string> = {};
    let kept = { seedTarget: "", componentTarget: "", componentArchive: "" };
    let counter = 0;
    for (let round = 0; round < ctx.reps; round++) {
        const order = roundOrder(backupVariants, round);
        for (const [position, variant] of order.entries()) {
            const target = `pdsb-${runId}-t${++counter}`;
            let job: ComponentJob;
            if (variant === "raw") {
                job = { command: rawCeilingCommand(runId, dataset.volume), environment: {} };
            } else {
                await createVolume(target, runId);
                job =
                    variant === "seed"
                        ? { command: seedBackupCommand(runId, dataset.volume, target), environment: {} }
                        : variant === "bare-zstd" || variant === "bare-none"
                          ? {
                                command: bareCommand(runId, dataset.volume, target, variant === "bare-zstd" ? "zstd" : "none"),
                                environment: {},
                            }
                          : await componentBackupJob(runId, dataset.volume, target, {
                                compression: variant.replace("component-", "") as Compression,
                            });
            }
            commands[variant] = dockerLine(job.command).split(target).join("<target volume>");
            const r = await timedShell(job.command, { env: job.environment });
            const contents =
                variant === "raw" ? { archiveBytes: 0, storedBytes: 0, archive: undefined } : await targetContents(runId, target);
            if (variant !== "raw" && !contents.archive) {
                throw new Error(`backup ${variant}: no archive in the target volume; stderr: ${r.stderr.trim().slice(-500)}`);
            }
            samples.push({ variant, round, position, seconds: r.seconds, mbps: mbps(dataset.bytes, r.seconds), ...contents });
            ctx.log(
                `  backup round ${round + 1}/${ctx.reps} ${variant.padEnd(15)} ${r.seconds.toFixed(2)} s  ${mbps(dataset.bytes, r.seconds).toFixed(1)} MB/s`,
            );
            // Keep the latest seed and component gzip archives for the restore phase.
            if (variant === "seed") {
                if (kept.seedTarget) await removeVolume(kept.seedTarget);
                kept = { ...kept, seedTarget: target };
            } else if (variant === "component-gzip") {
                if (kept.componentTarget) await removeVolume(kept.componentTarget);
                kept = { ...kept, componentTarget: target, componentArchive: contents.archive ?? "" };
            } else if (variant !== "raw") {
                await removeVolume(target);
            }
            await syncDisks(runId);
        }
    }
    return { samples, summary: summarize(samples, backupVariants, dataset.bytes, true), kept, commands };
}

function summarize<T extends { variant: string; round: number; seconds: number; archiveBytes?: number; storedBytes?: number }>(
    samples: T[],
    variants: readonly string[],
    dataBytes: number,
    backup: boolean,
): VariantSummary[] {
    const of = (v: string) => samples.filter((s) => s.variant === v);
    const seedMedian = median(of("seed").map((s) => s.seconds));
    const rawMedian = median(of("raw").map((s) => s.seconds));
    const seedArchive = median(of("seed").map((s) => s.archiveBytes ?? NaN));
    return variants.map((variant) => {
        const seconds = of(variant).map((s) => s.seconds);
        const med = median(seconds);
        const summary: VariantSummary = {
            variant,
            label: variantLabels[variant] ?? variant,
            samples: seconds.length,
            medianSeconds: med,
            minSeconds: min(seconds),
            maxSeconds: max(seconds),
            mbps: mbps(dataBytes, med),
            speedVsSeed: ratio(seedMedian, med),
            pairedSpeedVsSeed: pairedRatio(samples, "seed", variant),
        };
        if (backup) {
            summary.fractionOfCeiling = ratio(rawMedian, med);
            const compression = variant.startsWith("component-") ? variant.replace("component-", "") : undefined;
            if (compression) {
                const bare = compression === "gzip" ? "seed" : `bare-${compression}`;
                summary.vsBare = ratio(med, median(of(bare).map((s) => s.seconds)));
            }
            if (variant !== "raw") {
                const archive = median(of(variant).map((s) => s.archiveBytes ?? NaN));
                summary.medianArchiveBytes = archive;
                summary.medianStoredBytes = median(of(variant).map((s) => s.storedBytes ?? NaN));
                summary.storedVsSeed = ratio(archive, seedArchive);
                summary.compressionRatio = ratio(dataBytes, archive);
            }
        }
        return summary;
    });
}

export interface RestoreSample {
    variant: RestoreVariant;
    round: number;
    position: number;
    seconds: number;
    mbps: number;
    /** The restored tree has the data set's file count and bytes. */
    complete: boolean;
    restoredBytes: number;
    restoredFiles: number;
}

export interface RestorePhase {
    samples: RestoreSample[];
    summary: VariantSummary[];
    commands: Record<string, string>;
}

/** Alternate the seed's restore and the component's restore.sh into a fresh, empty volume. */
export async function runRestorePhase(ctx: PhaseContext, kept: BackupPhase["kept"]): Promise<RestorePhase> {
    const { runId, dataset } = ctx;
    const samples: RestoreSample[] = [];
    const commands: Record<string, string> = {};
    let counter = 0;
    for (let round = 0; round < ctx.reps; round++) {
        for (const [position, variant] of roundOrder(restoreVariants, round).entries()) {
            const restoreVolume = `pdsb-${runId}-r${++counter}`;
            await createVolume(restoreVolume, runId);
            const job =
                variant === "seed"
                    ? { command: seedRestoreCommand(runId, restoreVolume, kept.seedTarget), environment: {} }
                    : await componentRestoreJob(runId, dataset.volume, kept.componentTarget, restoreVolume, kept.componentArchive);
            commands[variant] = dockerLine(job.command).split(restoreVolume).join("<empty volume>");
            const r = await timedShell(job.command, { env: job.environment });
            // The seed's archive holds data/..., which lands at the volume's root (mounted at /data).
            const restored = await treeBytes(runId, restoreVolume);
            const complete = restored.bytes === dataset.bytes && restored.files === dataset.files;
            samples.push({
                variant,
                round,
                position,
                seconds: r.seconds,
                mbps: mbps(dataset.bytes, r.seconds),
                complete,
                restoredBytes: restored.bytes,
                restoredFiles: restored.files,
            });
            ctx.log(
                `  restore round ${round + 1}/${ctx.reps} ${variant.padEnd(10)} ${r.seconds.toFixed(2)} s  ${mbps(dataset.bytes, r.seconds).toFixed(1)} MB/s${complete ? "" : "  INCOMPLETE"}`,
            );
            await removeVolume(restoreVolume);
            await syncDisks(runId);
        }
    }
    const summary = summarize(samples, restoreVariants, dataset.bytes, false).map((s) => ({
        ...s,
        label: s.variant === "seed" ? "seed one-liner (tar xzf)" : "component restore.sh (gzip)",
    }));
    return { samples, summary, commands };
}
