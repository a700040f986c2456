// Program scale: time and memory to construct N services under Pulumi mocks
// (test/helpers/pulumiMocks.ts recordProgram), the component against the same
// volumes and containers declared by hand with raw @pulumi/docker.
//
//   component: one PersistentStack with N volumes, N containers each mounting
//              its volume, backup.volumes listing all N into a dedicated
//              target volume, local image, pull: false
//   raw:       N docker.Volume + N docker.Container mounting it
//
// Every measurement runs in a fresh child process (this file with --child),
// so module loading, JIT and garbage from other runs never leak into another
// measurement's time or memory. The child loads every module first, then
// times recordProgram (construction + every registration settled).
import { spawn } from "node:child_process";
import * as path from "node:path";
import { max, median, min, ratio, roundOrder } from "./stats";

export const constructionVariants = ["component", "raw"] as const;
export type ConstructionVariant = (typeof constructionVariants)[number];

const IMAGE = "pds-test/busybox:latest";
const RESULT_MARK = "PDS_BENCH_RESULT ";

export interface ConstructionSample {
    variant: ConstructionVariant;
    n: number;
    round: number;
    position: number;
    /** recordProgram: construction plus all registrations settled (mocks). */
    totalMs: number;
    /** The synchronous constructor calls alone. */
    constructMs: number;
    /** Resources registered (components included, the root stack excluded). */
    resources: number;
    customResources: number;
    resourcesByType: Record<string, number>;
    heapBaselineBytes: number;
    /** Highest heapUsed sampled (every 5 ms and at the end). */
    heapPeakBytes: number;
    rssBaselineBytes: number;
    /** Highest rss sampled. */
    rssPeakBytes: number;
    /** process.resourceUsage().maxRSS of the child (whole life, module loading included). */
    maxRssBytes: number;
    /** The child's wall time from spawn to exit (module loading included). */
    processMs: number;
}

// ---------------------------------------------------------------------------
// Child

function keysOf(n: number): string[] {
    return Array.from({ length: n }, (_, i) => `s${String(i + 1).padStart(3, "0")}`);
}

async function child(variant: ConstructionVariant, n: number): Promise<void> {
    // Everything is loaded before the clock starts.
    const docker = await import("@pulumi/docker");
    const { PersistentStack } = await import("../components/persistentStack");
    const { recordProgram } = await import("../test/helpers/pulumiMocks");
    const keys = keysOf(n);

    const program =
        variant === "component"
            ? () =>
                  void new PersistentStack("bench", {
                      namePrefix: "bench-scale",
                      volumes: { ...Object.fromEntries(keys.map((k) => [k, {}])), backups: {} },
                      containers: Object.fromEntries(
                          keys.map((k) => [k, { image: IMAGE, pull: false, mounts: [{ type: "volume", volume: k, target: "/data" }] }]),
                      ),
                      backup: { volumes: keys, targetVolume: "backups", image: IMAGE, pull: false },
                  })
            : () => {
                  for (const k of keys) {
                      const volume = new docker.Volume(`bench-vol-${k}`, { name: `bench-scale-${k}` });
                      new docker.Container(`bench-ctr-${k}`, {
                          name: `bench-scale-${k}`,
                          image: IMAGE,
                          mounts: [{ type: "volume", source: volume.name, target: "/data" }],
                      });
                  }
              };

    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const base = process.memoryUsage();
    let heapPeak = base.heapUsed;
    let rssPeak = base.rss;
    const sample = () => {
        const m = process.memoryUsage();
        heapPeak = Math.max(heapPeak, m.heapUsed);
        rssPeak = Math.max(rssPeak, m.rss);
    };
    const sampler = setInterval(sample, 5);
    let constructMs = NaN;
    const started = performance.now();
    const recording = await recordProgram(
        () => {
            const t = performance.now();
            program();
            constructMs = performance.now() - t;
            sample();
        },
        { project: "bench", stack: "scale" },
    );
    const totalMs = performance.now() - started;
    clearInterval(sampler);
    sample();
    const byType: Record<string, number> = {};
    for (const r of recording.resources) {
        byType[r.type] = (byType[r.type] ?? 0) + 1;
    }
    const result = {
        totalMs,
        constructMs,
        resources: recording.resources.length,
        customResources: recording.resources.filter((r) => r.custom).length,
        resourcesByType: byType,
        heapBaselineBytes: base.heapUsed,
        heapPeakBytes: heapPeak,
        rssBaselineBytes: base.rss,
        rssPeakBytes: rssPeak,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------
// Parent

const repoRoot = path.resolve(__dirname, "..");

function runChild(variant: ConstructionVariant, n: number): Promise<Omit<ConstructionSample, "variant" | "n" | "round" | "position">> {
    return new Promise((resolve, reject) => {
        const started = performance.now();
        const proc = spawn(process.execPath, ["--expose-gc", "-r", "ts-node/register", __filename, "--child", variant, String(n)], {
            cwd: repoRoot,
            env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        proc.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        proc.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        proc.on("error", reject);
        proc.on("close", (code) => {
            const processMs = performance.now() - started;
            const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARK));
            if (code !== 0 || !line) {
                reject(new Error(`construction child (${variant}, ${n}) exited ${code}: ${stderr.trim().slice(-1500)}`));
                return;
            }
            resolve({ ...JSON.parse(line.slice(RESULT_MARK.length)), processMs });
        });
    });
}

export interface ConstructionSummaryRow {
    n: number;
    variant: ConstructionVariant;
    samples: number;
    medianTotalMs: number;
    minTotalMs: number;
    maxTotalMs: number;
    medianConstructMs: number;
    resources: number;
    msPerService: number;
    msPerResource: number;
    medianMaxRssBytes: number;
    medianHeapGrowthBytes: number;
}

export interface ConstructionComparison {
    n: number;
    /** Component median time / raw median time (per service: same N). */
    timeRatio: number;
    /** Median over rounds of component/raw in the same round. */
    pairedTimeRatio: number;
    /** Component ms per registered resource / raw ms per registered resource. */
    perResourceTimeRatio: number;
    /** Resources the component registers per raw resource. */
    resourceRatio: number;
    maxRssRatio: number;
    heapGrowthRatio: number;
}

export interface Linearity {
    variant: ConstructionVariant;
    fromN: number;
    toN: number;
    /** ms per service at toN / ms per service at fromN (1 = linear, < 1: fixed costs amortised). */
    perServiceGrowth: number;
    /** Marginal ms per added service over the last step / over the first step (1 = linear). */
    marginalGrowth: number;
    linear: boolean;
}

export interface ConstructionPhase {
    sizes: number[];
    samples: ConstructionSample[];
    summary: ConstructionSummaryRow[];
    comparisons: ConstructionComparison[];
    linearity: Linearity[];
}

export async function runConstructionPhase(opts: {
    sizes: number[];
    reps: number;
    log: (line: string) => void;
}): Promise<ConstructionPhase> {
    const samples: ConstructionSample[] = [];
    for (let round = 0; round < opts.reps; round++) {
        for (const [i, n] of opts.sizes.entries()) {
            for (const [position, variant] of roundOrder(constructionVariants, round + i).entries()) {
                const r = await runChild(variant, n);
                samples.push({ variant, n, round, position, ...r });
                opts.log(
                    `  construction round ${round + 1}/${opts.reps} N=${String(n).padStart(3)} ${variant.padEnd(9)} ${r.totalMs.toFixed(0)} ms, ` +
                        `${r.resources} resources, maxRSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
                );
            }
        }
    }
    const of = (variant: string, n: number) => samples.filter((s) => s.variant === variant && s.n === n);
    const summary: ConstructionSummaryRow[] = opts.sizes.flatMap((n) =>
        constructionVariants.map((variant) => {
            const s = of(variant, n);
            const total = median(s.map((x) => x.totalMs));
            const resources = median(s.map((x) => x.resources));
            return {
                n,
                variant,
                samples: s.length,
                medianTotalMs: total,
                minTotalMs: min(s.map((x) => x.totalMs)),
                maxTotalMs: max(s.map((x) => x.totalMs)),
                medianConstructMs: median(s.map((x) => x.constructMs)),
                resources,
                msPerService: total / n,
                msPerResource: total / resources,
                medianMaxRssBytes: median(s.map((x) => x.maxRssBytes)),
                medianHeapGrowthBytes: median(s.map((x) => x.heapPeakBytes - x.heapBaselineBytes)),
            };
        }),
    );
    const row = (variant: string, n: number) => summary.find((r) => r.variant === variant && r.n === n) as ConstructionSummaryRow;
    const comparisons = opts.sizes.map((n) => {
        const c = row("component", n);
        const r = row("raw", n);
        const paired = [...new Set(samples.map((s) => s.round))].map((round) => {
            const cs = of("component", n).find((s) => s.round === round);
            const rs = of("raw", n).find((s) => s.round === round);
            return ratio(cs?.totalMs ?? NaN, rs?.totalMs ?? NaN);
        });
        return {
            n,
            timeRatio: ratio(c.medianTotalMs, r.medianTotalMs),
            pairedTimeRatio: median(paired),
            perResourceTimeRatio: ratio(c.msPerResource, r.msPerResource),
            resourceRatio: ratio(c.resources, r.resources),
            maxRssRatio: ratio(c.medianMaxRssBytes, r.medianMaxRssBytes),
            heapGrowthRatio: ratio(c.medianHeapGrowthBytes, r.medianHeapGrowthBytes),
        };
    });
    const sizes = [...opts.sizes].sort((a, b) => a - b);
    const linearity = constructionVariants.map((variant) => {
        const first = row(variant, sizes[0]);
        const last = row(variant, sizes[sizes.length - 1]);
        const marginal = (a: number, b: number) => (row(variant, b).medianTotalMs - row(variant, a).medianTotalMs) / (b - a);
        const firstStep = marginal(sizes[0], sizes[1]);
        const lastStep = marginal(sizes[sizes.length - 2], sizes[sizes.length - 1]);
        const perServiceGrowth = ratio(last.msPerService, first.msPerService);
        const marginalGrowth = sizes.length >= 3 ? ratio(lastStep, firstStep) : NaN;
        return {
            variant,
            fromN: sizes[0],
            toN: sizes[sizes.length - 1],
            perServiceGrowth,
            marginalGrowth,
            // Linear (or better): per-service cost does not grow by more than half.
            linear: perServiceGrowth <= 1.5 && (!Number.isFinite(marginalGrowth) || marginalGrowth <= 1.5),
        };
    });
    return { sizes: opts.sizes, samples, summary, comparisons, linearity };
}

if (require.main === module && process.argv[2] === "--child") {
    const variant = process.argv[3] as ConstructionVariant;
    const n = Number(process.argv[4]);
    if (!constructionVariants.includes(variant) || !Number.isInteger(n) || n < 1) {
        console.error(`usage: construction.ts --child component|raw N`);
        process.exit(2);
    }
    child(variant, n).then(
        () => process.exit(0),
        (e) => {
            console.error(e instanceof Error ? (e.stack ?? e.message) : e);
            process.exit(1);
        },
    );
}
