// Small numeric helpers shared by the bench modules: medians, ratios, units,
// and the order of alternating repetitions.

/** 1 MB = 10^6 bytes: throughput is reported in MB/s (decimal). */
export const MB = 1e6;
/** 1 MiB = 2^20 bytes: data set sizes are chosen in MiB. */
export const MiB = 1024 * 1024;

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: number[]): number {
    if (values.length === 0) {
        return NaN;
    }
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function min(values: number[]): number {
    return values.length ? Math.min(...values) : NaN;
}

export function max(values: number[]): number {
    return values.length ? Math.max(...values) : NaN;
}

/** a / b, or NaN when b is 0 or either side is not a number. */
export function ratio(a: number, b: number): number {
    return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/** Seconds since an arbitrary origin, high resolution. */
export function nowSeconds(): number {
    return Number(process.hrtime.bigint()) / 1e9;
}

/** Throughput in MB/s of `bytes` processed in `seconds`. */
export function mbps(bytes: number, seconds: number): number {
    return ratio(bytes / MB, seconds);
}

/**
 * The order of the variants in round `round`: variant `round mod n` runs first
 * (so over n rounds each variant runs first once), and with three or more
 * variants every other round runs backwards, so no variant always runs right
 * after the same neighbour (drift on a shared machine hits them all alike).
 * With two variants they simply swap places every round.
 */
export function roundOrder<T>(variants: readonly T[], round: number): T[] {
    const n = variants.length;
    const backwards = round % 2 === 1 && n > 2;
    // Backwards rounds rotate one further, so that their first is variant `round mod n`.
    const offset = backwards ? round + 1 : round;
    const rotated = variants.map((_, i) => variants[(i + offset) % n]);
    return backwards ? rotated.reverse() : rotated;
}

/** Fixed-precision number for tables; "-" for NaN/undefined. */
export function fmt(value: number | undefined, digits = 2): string {
    return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

/** A ratio as "0.45x". */
export function fmtRatio(value: number | undefined): string {
    return value === undefined || !Number.isFinite(value) ? "-" : `${value.toFixed(2)}x`;
}

/** Bytes as MiB with one decimal. */
export function fmtMiB(bytes: number | undefined): string {
    return bytes === undefined || !Number.isFinite(bytes) ? "-" : (bytes / MiB).toFixed(1);
}
