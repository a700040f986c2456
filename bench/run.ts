// `npm run bench [-- --quick]`: backup/restore throughput of the component's
// jobs against the seed's one-liners, restic, and program-construction scale,
// on this machine. Progress goes to stderr; the tables to stdout; every raw
// sample, median and ratio to bench/results/<UTC timestamp>.json (and
// latest.json); charts to bench/plots/*.svg (full runs; quick runs draw
// theirs in bench/results/quick-plots/).
//
// The machine is shared and noisy, so every figure is a ratio against a
// baseline measured in the same run, from medians over alternating rounds.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { docker, dockerUnavailableReason } from "../test/helpers/docker";
import { BackupPhase, componentJobFilters, RestorePhase, runBackupPhase, runRestorePhase, variantLabels } from "./backup";
import { ConstructionPhase, runConstructionPhase } from "./construction";
import { Dataset, generateDataset } from "./dataset";
import { BUSYBOX_IMAGE, cleanupRun, hasImage, otherBenchVolumes, RESTIC_IMAGE } from "./exec";
import { Bar, barChart, linePanels, palette } from "./plot";
import { ResticPhase, runResticPhase } from "./restic";
import { fmt, fmtMiB, fmtRatio, MiB } from "./stats";
import { renderTable, Table } from "./table";

interface ModeConfig {
    dataBytes: number;
    smallFiles: number;
    reps: number;
    constructionSizes: number[];
    constructionReps: number;
}

const modes: Record<"full" | "quick", ModeConfig> = {
    full: { dataBytes: 512 * MiB, smallFiles: 10_000, reps: 3, constructionSizes: [10, 100, 500], constructionReps: 3 },
    quick: { dataBytes: 64 * MiB, smallFiles: 2_500, reps: 2, constructionSizes: [10, 100], constructionReps: 2 },
};

const benchDir = __dirname;
const resultsDir = path.join(benchDir, "results");
// The committed plots (quoted in the README) come from full runs; quick runs
// draw theirs beside their results, git-ignored.
const plotsDirOf = (mode: string) => (mode === "quick" ? path.join(resultsDir, "quick-plots") : path.join(benchDir, "plots"));

const usage = `usage: npm run bench [-- --quick] [-- --skip-docker] [-- --skip-construction]

  --quick               64 MiB data set, 2 rounds, construction N = 10, 100 (< 2 minutes)
  --skip-docker         only the construction measurements
  --skip-construction   only the Docker measurements`;

function parseArgs(argv: string[]) {
    const opts = { quick: false, skipDocker: false, skipConstruction: false };
    for (const arg of argv) {
        if (arg === "--quick") opts.quick = true;
        else if (arg === "--skip-docker") opts.skipDocker = true;
        else if (arg === "--skip-construction") opts.skipConstruction = true;
        else if (arg === "--help" || arg === "-h") {
            console.log(usage);
            process.exit(0);
        } else {
            console.error(`bench: unknown argument ${arg}\n${usage}`);
            process.exit(2);
        }
    }
    return opts;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function tryExec(file: string, args: string[]): string | undefined {
    try {
        return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
        return undefined;
    }
}

async function machineInfo(resticImage: boolean) {
    const dockerVersion = await docker(["version", "--format", "{{json .}}"], { allowFail: true });
    let versions: any = {};
    try {
        versions = JSON.parse(dockerVersion.stdout);
    } catch {
        // no daemon
    }
    const driver = await docker(["info", "--format", "{{.Driver}}"], { allowFail: true });
    const restic = resticImage
        ? await docker(["run", "--rm", "--network", "none", RESTIC_IMAGE, "restic", "version"], { allowFail: true })
        : undefined;
    const imageId = async (image: string) =>
        (await docker(["image", "inspect", "--format", "{{.Id}}", image], { allowFail: true })).stdout.trim() || undefined;
    return {
        nproc: Number(tryExec("nproc", [])) || os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model,
        memoryBytes: os.totalmem(),
        loadAverage: os.loadavg(),
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        node: process.version,
        docker: {
            client: versions?.Client?.Version,
            server: versions?.Server?.Version,
            apiVersion: versions?.Server?.ApiVersion,
            storageDriver: driver.stdout.trim() || undefined,
        },
        images: { [BUSYBOX_IMAGE]: await imageId(BUSYBOX_IMAGE), [RESTIC_IMAGE]: resticImage ? await imageId(RESTIC_IMAGE) : undefined },
        restic: restic?.stdout.trim() || undefined,
        git: {
            head: tryExec("git", ["rev-parse", "HEAD"]),
            dirtyFiles: (tryExec("git", ["status", "--porcelain"]) ?? "").split("\n").filter(Boolean).length,
        },
    };
}

// ---------------------------------------------------------------------------
// Tables

function backupTable(phase: BackupPhase, dataset: Dataset): Table {
    return {
        title: `Backup of one volume (${fmtMiB(dataset.bytes)} MiB, ${dataset.files} files), medians of ${phase.summary[0]?.samples ?? 0} alternating rounds`,
        headers: [
            "variant",
            "median s",
            "min-max s",
            "MB/s",
            "speed vs seed",
            "paired",
            "of ceiling",
            "time vs bare",
            "archive MiB",
            "size vs seed",
            "compression",
        ],
        rows: phase.summary.map((s) => [
            s.label,
            fmt(s.medianSeconds),
            `${fmt(s.minSeconds)}-${fmt(s.maxSeconds)}`,
            fmt(s.mbps, 1),
            fmtRatio(s.speedVsSeed),
            fmtRatio(s.pairedSpeedVsSeed),
            s.fractionOfCeiling !== undefined ? `${fmt(s.fractionOfCeiling * 100, 0)}%` : "-",
            fmtRatio(s.vsBare),
            fmtMiB(s.medianArchiveBytes),
            fmtRatio(s.storedVsSeed),
            s.compressionRatio !== undefined ? `${fmt(s.compressionRatio)}:1` : "-",
        ]),
        notes: [
            "speed vs seed = seed median time / variant median time (>1 is faster); paired = median over rounds of the same ratio",
            "within one round (robust to drift of the machine's load); of ceiling = raw tar median time / variant median time.",
            "time vs bare = the job's median time / the bare pipeline's of the same compression (tar | compressor > file in the",
            "same image; gzip's is the seed). Every time includes starting the container (docker run). The component's job also",
            "checksums and test-reads the compressed stream in full while writing it (an uncompressed archive right after, from",
            "the page cache), takes the manifest's counts from that listing, fsyncs, and writes sidecars (checksum, manifest).",
        ],
    };
}

function restoreTable(phase: RestorePhase, dataset: Dataset): Table {
    return {
        title: `Restore into an empty volume (${fmtMiB(dataset.bytes)} MiB), medians of ${phase.summary[0]?.samples ?? 0} alternating rounds`,
        headers: ["variant", "median s", "min-max s", "MB/s", "speed vs seed", "paired", "complete"],
        rows: phase.summary.map((s) => {
            const samples = phase.samples.filter((x) => x.variant === s.variant);
            return [
                s.label,
                fmt(s.medianSeconds),
                `${fmt(s.minSeconds)}-${fmt(s.maxSeconds)}`,
                fmt(s.mbps, 1),
                fmtRatio(s.speedVsSeed),
                fmtRatio(s.pairedSpeedVsSeed),
                `${samples.filter((x) => x.complete).length}/${samples.length}`,
            ];
        }),
        notes: [
            "The component extracts into a hidden staging directory while checksumming the archive on another core, and moves",
            "the tree into place only when the checksum matches and the extraction succeeded.",
        ],
    };
}

function resticTable(phase: ResticPhase, dataset: Dataset): Table | undefined {
    if (!phase.summary) {
        return undefined;
    }
    const s = phase.summary;
    return {
        title: `${phase.label} on the same volume (${fmtMiB(dataset.bytes)} MiB), medians of ${phase.samples.length} rounds`,
        headers: ["step", "median s", "min-max s", "MB/s", "speed vs seed", "paired", "repo added MiB", "added vs seed archive"],
        rows: s.steps.map((step) => [
            step.label,
            fmt(step.medianSeconds),
            `${fmt(step.minSeconds)}-${fmt(step.maxSeconds)}`,
            fmt(step.mbps, 1),
            fmtRatio(step.speedVsSeed),
            fmtRatio(step.pairedSpeedVsSeed),
            fmtMiB(step.medianAddedBytes),
            fmtRatio(step.addedVsSeedArchive),
        ]),
        notes: [
            `Baseline: the seed one-liner alternated with restic in the same rounds: median ${fmt(s.seedMedianSeconds)} s, archive ${fmtMiB(s.seedMedianArchiveBytes)} MiB.`,
            `"1% changed": ${fmtMiB(s.medianChangedDataBytes)} MiB of the data rewritten in place before the third backup. MB/s = data set bytes / time.`,
            phase.engine === "component"
                ? `The component's restic engine: its pre-deploy job with engine "restic" (restic-backup.sh: init when missing, backup, retention), ${RESTIC_IMAGE}.`
                : `restic run directly in ${RESTIC_IMAGE}: restic init + restic backup --no-cache, repository on a fresh volume.`,
            ...(phase.engineNote ? [phase.engineNote] : []),
        ],
    };
}

function constructionTables(phase: ConstructionPhase): Table[] {
    const perRun: Table = {
        title: `Program construction under Pulumi mocks (fresh child process each), medians of ${phase.summary[0]?.samples ?? 0} alternating rounds`,
        headers: [
            "N services",
            "variant",
            "resources",
            "median ms",
            "min-max ms",
            "ms/service",
            "ms/resource",
            "max RSS MiB",
            "heap growth MiB",
        ],
        rows: phase.summary.map((r) => [
            String(r.n),
            r.variant,
            String(r.resources),
            fmt(r.medianTotalMs, 0),
            `${fmt(r.minTotalMs, 0)}-${fmt(r.maxTotalMs, 0)}`,
            fmt(r.msPerService),
            fmt(r.msPerResource),
            fmtMiB(r.medianMaxRssBytes),
            fmtMiB(r.medianHeapGrowthBytes),
        ]),
        align: ["right", "left"],
        notes: [
            "component: one PersistentStack (N volumes + backup target, one VolumeGuard, network, N containers, N pre-deploy backups, backup container).",
            "raw: N docker.Volume + N docker.Container by hand. Time = recordProgram (construction + all registrations settled).",
        ],
    };
    const ratios: Table = {
        title: "Component overhead vs raw @pulumi/docker (same N)",
        headers: ["N services", "time ratio", "paired", "per-resource time ratio", "resources ratio", "max RSS ratio", "heap growth ratio"],
        rows: phase.comparisons.map((c) => [
            String(c.n),
            fmtRatio(c.timeRatio),
            fmtRatio(c.pairedTimeRatio),
            fmtRatio(c.perResourceTimeRatio),
            fmtRatio(c.resourceRatio),
            fmtRatio(c.maxRssRatio),
            fmtRatio(c.heapGrowthRatio),
        ]),
        align: ["right"],
        notes: phase.linearity.map(
            (l) =>
                `${l.variant}: ms/service at N=${l.toN} / at N=${l.fromN} = ${fmtRatio(l.perServiceGrowth)}` +
                (Number.isFinite(l.marginalGrowth) ? `, marginal ms/service last step / first step = ${fmtRatio(l.marginalGrowth)}` : "") +
                ` -> ${l.linear ? "grows linearly (or better)" : "grows faster than linearly"}`,
        ),
    };
    return [perRun, ratios];
}

// ---------------------------------------------------------------------------
// Plots

function throughputPlot(mode: string, dataset: Dataset, backup?: BackupPhase, restore?: RestorePhase, restic?: ResticPhase): string {
    const colorOf = (variant: string) =>
        variant === "raw" || variant.startsWith("bare-") ? palette.ceiling : variant === "seed" ? palette.baseline : palette.component;
    const groups = [];
    if (backup) {
        groups.push({
            title: "Backup",
            bars: backup.summary.map((s): Bar => ({
                label: s.label,
                value: s.mbps,
                min: dataset.bytes / 1e6 / s.maxSeconds,
                max: dataset.bytes / 1e6 / s.minSeconds,
                note: s.variant === "seed" ? "baseline" : `${fmtRatio(s.speedVsSeed)} seed, paired ${fmtRatio(s.pairedSpeedVsSeed)}`,
                color: colorOf(s.variant),
            })),
        });
    }
    if (restore) {
        groups.push({
            title: "Restore into an empty volume",
            bars: restore.summary.map((s): Bar => ({
                label: s.label,
                value: s.mbps,
                min: dataset.bytes / 1e6 / s.maxSeconds,
                max: dataset.bytes / 1e6 / s.minSeconds,
                note: s.variant === "seed" ? "baseline" : `${fmtRatio(s.speedVsSeed)} seed, paired ${fmtRatio(s.pairedSpeedVsSeed)}`,
                color: colorOf(s.variant),
            })),
        });
    }
    if (restic?.summary) {
        const summary = restic.summary;
        groups.push({
            title: `${restic.label} (baseline: seed one-liner in the same rounds, ${fmt(dataset.bytes / 1e6 / summary.seedMedianSeconds, 1)} MB/s)`,
            bars: summary.steps.map((s): Bar => ({
                label: `${s.label}`,
                value: s.mbps,
                min: dataset.bytes / 1e6 / s.maxSeconds,
                max: dataset.bytes / 1e6 / s.minSeconds,
                note: `${fmtRatio(s.speedVsSeed)} seed, paired ${fmtRatio(s.pairedSpeedVsSeed)}, +${fmtMiB(s.medianAddedBytes)} MiB`,
                color: palette.restic,
            })),
        });
    }
    return barChart({
        title: "persistent-docker backup throughput",
        subtitle: `${mode} run, ${fmtMiB(dataset.bytes)} MiB volume (${dataset.files} files); bars: median MB/s (10^6 B/s), whiskers: min-max; times include docker run`,
        unit: "MB/s (data set bytes / wall time)",
        groups,
    });
}

function constructionPlot(mode: string, phase: ConstructionPhase): string {
    const series = (pick: (r: ConstructionPhase["summary"][number]) => { y: number; min?: number; max?: number }) =>
        (["component", "raw"] as const).map((variant) => ({
            name: variant === "component" ? "PersistentStack (with backups)" : "raw docker.Volume + docker.Container",
            color: variant === "component" ? palette.component : palette.raw,
            points: phase.summary.filter((r) => r.variant === variant).map((r) => ({ x: r.n, ...pick(r) })),
        }));
    return linePanels({
        title: "Program construction under Pulumi mocks",
        subtitle: `${mode} run; median of fresh child processes, whiskers: min-max; a straight line = linear growth`,
        xLabel: "services N",
        xValues: phase.sizes,
        panels: [
            {
                title: "Time to construct + register (s)",
                yLabel: "seconds",
                series: series((r) => ({ y: r.medianTotalMs / 1000, min: r.minTotalMs / 1000, max: r.maxTotalMs / 1000 })),
            },
            { title: "Time per service (ms)", yLabel: "ms / service", series: series((r) => ({ y: r.msPerService })) },
            { title: "Peak memory (max RSS, MiB)", yLabel: "MiB", series: series((r) => ({ y: r.medianMaxRssBytes / MiB })) },
        ],
    });
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
    const opts = parseArgs(process.argv.slice(2));
    const mode = opts.quick ? "quick" : "full";
    const config = modes[mode];
    const started = new Date();
    const startedMs = Date.now();
    const stamp = started
        .toISOString()
        .replace(/\.\d+Z$/, "Z")
        .replace(/:/g, "-");
    const runId = `${stamp.replace(/[-:]/g, "").toLowerCase()}-${process.pid}`;
    const errors: string[] = [];
    const phaseSeconds: Record<string, number> = {};
    const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
        const t = Date.now();
        try {
            return await fn();
        } finally {
            phaseSeconds[name] = (Date.now() - t) / 1000;
            log(`  (${name}: ${fmt(phaseSeconds[name], 1)} s)`);
        }
    };
    log(`bench: ${mode} run ${runId}`);

    let dataset: Dataset | undefined;
    let backup: BackupPhase | undefined;
    let restore: RestorePhase | undefined;
    let restic: ResticPhase | undefined;
    let construction: ConstructionPhase | undefined;
    let cleanup: Awaited<ReturnType<typeof cleanupRun>> | undefined;

    const cleanupNow = () => cleanupRun(runId, componentJobFilters(runId));
    let interrupted = false;
    const onSignal = (signal: NodeJS.Signals) => {
        if (interrupted) return;
        interrupted = true;
        log(`bench: ${signal}: removing this run's containers and volumes`);
        void cleanupNow().finally(() => process.exit(130));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    const dockerReason = opts.skipDocker ? "skipped (--skip-docker)" : await dockerUnavailableReason(10_000);
    const busybox = !dockerReason && (await hasImage(BUSYBOX_IMAGE));
    const resticImage = !dockerReason && (await hasImage(RESTIC_IMAGE));
    const machine = await machineInfo(resticImage);

    if (!dockerReason && busybox) {
        const leftovers = await otherBenchVolumes(runId);
        if (leftovers.length) {
            log(
                `bench: note: ${leftovers.length} volume(s) labelled pds.bench=1 from other runs exist (docker volume ls --filter label=pds.bench=1)`,
            );
        }
        try {
            const volume = `pdsb-${runId}-data`;
            log(`bench: generating the data set (${fmtMiB(config.dataBytes)} MiB, ${config.smallFiles} small files) in volume ${volume}`);
            dataset = await timed("dataset", () =>
                generateDataset(runId, volume, { bytes: config.dataBytes, smallFiles: config.smallFiles }),
            );
            log(`  ${fmtMiB(dataset.bytes)} MiB in ${dataset.files} files, ${fmt(dataset.generateSeconds, 1)} s`);
            const ctx = { runId, dataset: dataset as Dataset, reps: config.reps, log };
            log("bench: backup throughput");
            backup = await timed("backup", () => runBackupPhase(ctx));
            log("bench: restore throughput");
            const kept = backup.kept;
            restore = await timed("restore", () => runRestorePhase(ctx, kept));
            log(resticImage ? "bench: restic" : `bench: restic skipped (${RESTIC_IMAGE} missing)`);
            // Last: it changes the data set.
            restic = await timed("restic", () => runResticPhase(ctx, resticImage));
        } catch (e) {
            errors.push(`docker measurements: ${(e as Error).message}`);
            log(`bench: docker measurements failed: ${(e as Error).message}`);
        } finally {
            cleanup = await cleanupNow();
            log(
                `bench: removed ${cleanup.volumes} volume(s), ${cleanup.containers} container(s)${cleanup.failed.length ? `; FAILED: ${cleanup.failed.join("; ")}` : ""}`,
            );
        }
    } else if (!opts.skipDocker) {
        const why = dockerReason ?? `image ${BUSYBOX_IMAGE} missing (bash .ci/images.sh)`;
        errors.push(`docker measurements skipped: ${why}`);
        log(`bench: docker measurements skipped: ${why}`);
    }

    if (!opts.skipConstruction) {
        try {
            log("bench: program construction");
            construction = await timed("construction", () =>
                runConstructionPhase({ sizes: config.constructionSizes, reps: config.constructionReps, log }),
            );
        } catch (e) {
            errors.push(`construction: ${(e as Error).message}`);
            log(`bench: construction failed: ${(e as Error).message}`);
        }
    }

    const wallSeconds = (Date.now() - startedMs) / 1000;
    const tables: Table[] = [];
    if (dataset && backup) tables.push(backupTable(backup, dataset));
    if (dataset && restore) tables.push(restoreTable(restore, dataset));
    const rt = dataset && restic ? resticTable(restic, dataset) : undefined;
    if (rt) tables.push(rt);
    if (construction) tables.push(...constructionTables(construction));

    const header = [
        `persistent-docker bench, ${mode} mode, ${started.toISOString()}`,
        `machine: ${machine.nproc} cores (${machine.cpuModel ?? "?"}), ${fmtMiB(machine.memoryBytes)} MiB RAM, node ${machine.node}, ` +
            `docker ${machine.docker.server ?? "?"} (${machine.docker.storageDriver ?? "?"})`,
        dataset
            ? `data set: ${fmtMiB(dataset.bytes)} MiB, ${dataset.files} files: ${fmtMiB(dataset.textBytes)} MiB text, ${fmtMiB(dataset.randomBytes)} MiB random, ` +
              `${fmtMiB(dataset.smallFileBytes)} MiB in ${dataset.smallFiles} small files (generated in ${fmt(dataset.generateSeconds, 1)} s)`
            : "data set: none",
        ...(restic && !restic.available ? [`restic: skipped (${RESTIC_IMAGE} missing)`] : []),
    ];
    process.stdout.write(`\n${header.join("\n")}\n\n${tables.map(renderTable).join("\n\n")}\n`);
    for (const e of errors) {
        process.stdout.write(`\nERROR: ${e}\n`);
    }
    const phases = Object.entries(phaseSeconds)
        .map(([k, v]) => `${k} ${fmt(v, 1)} s`)
        .join(", ");
    process.stdout.write(`\nwall time: ${fmt(wallSeconds, 1)} s (${phases})\n`);

    const result = {
        schema: 1,
        mode,
        argv: process.argv.slice(2),
        runId,
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        wallSeconds,
        phaseSeconds,
        loadAverageEnd: os.loadavg(),
        units: {
            throughput: "MB/s = 10^6 bytes per second of wall time",
            sizes: "bytes",
            times: "seconds (docker), milliseconds (construction)",
        },
        config,
        machine,
        images: { busybox: BUSYBOX_IMAGE, restic: resticImage ? RESTIC_IMAGE : null },
        variantLabels,
        dataset,
        backup,
        restore,
        restic,
        construction,
        cleanup,
        errors,
    };
    fs.mkdirSync(resultsDir, { recursive: true });
    const json = `${JSON.stringify(result, null, 2)}\n`;
    const file = path.join(resultsDir, `${stamp}.json`);
    fs.writeFileSync(file, json);
    fs.writeFileSync(path.join(resultsDir, "latest.json"), json);
    const written = [path.relative(process.cwd(), file), path.relative(process.cwd(), path.join(resultsDir, "latest.json"))];
    const plotsDir = plotsDirOf(mode);
    fs.mkdirSync(plotsDir, { recursive: true });
    if (dataset && (backup || restore)) {
        fs.writeFileSync(path.join(plotsDir, "throughput.svg"), throughputPlot(mode, dataset, backup, restore, restic));
        written.push(path.relative(process.cwd(), path.join(plotsDir, "throughput.svg")));
    }
    if (construction) {
        fs.writeFileSync(path.join(plotsDir, "construction.svg"), constructionPlot(mode, construction));
        written.push(path.relative(process.cwd(), path.join(plotsDir, "construction.svg")));
    }
    process.stdout.write(`wrote ${written.join(", ")}\n`);
    return errors.length ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(e instanceof Error ? (e.stack ?? e.message) : e);
        process.exit(1);
    },
);
