// Health of the backup container: how old the newest good backup may be
// (backup.maxAge, by default twice the schedule's interval) and how often
// Docker checks it. Pure functions, tested without Pulumi.

/** Seconds of a duration: `90s`, `90m`, `26h`, `7d`, or `0`. */
export function parseDuration(value: string): number {
    const m = /^(\d+)([smhd]?)$/.exec(value.trim());
    if (!m) {
        throw new Error(`invalid duration "${value}": use e.g. 90m, 26h or 7d`);
    }
    return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]]!;
}

/** The values a 5-field cron field allows, within [min, max]. */
function cronValues(field: string, min: number, max: number): Set<number> {
    const values = new Set<number>();
    for (const part of field.split(",")) {
        const [range, stepText] = part.split("/");
        const step = stepText === undefined ? 1 : Number(stepText);
        let [from, to] = [min, max];
        if (range !== "*") {
            const [a, b] = range.split("-").map(Number);
            from = a;
            to = b ?? (stepText === undefined ? a : max);
        }
        for (let v = from; v <= to; v += step) {
            values.add(v);
        }
    }
    return values;
}

/**
 * The longest time, in seconds, between two runs of a 5-field cron schedule
 * (UTC), found by walking a year minute by minute. Day of month and day of
 * week combine as in cron: either matches when both are restricted.
 */
export function cronIntervalSeconds(expression: string): number {
    const [minF, hourF, domF, monF, dowF] = expression.trim().split(/\s+/);
    const minutes = cronValues(minF, 0, 59);
    const hours = cronValues(hourF, 0, 23);
    const doms = cronValues(domF, 1, 31);
    const months = cronValues(monF, 1, 12);
    const dows = new Set([...cronValues(dowF, 0, 7)].map((d) => d % 7));
    const dayMatches = (d: Date) => {
        const dom = doms.has(d.getUTCDate());
        const dow = dows.has(d.getUTCDay());
        if (domF !== "*" && dowF !== "*") {
            return dom || dow;
        }
        return dom && dow;
    };
    // Two years from a year start hold the longest gap of any schedule but Feb 29's.
    const start = Date.UTC(2025, 0, 1);
    const end = Date.UTC(2027, 0, 1);
    let previous: number | undefined;
    let longest = 0;
    for (let t = start; t < end;) {
        const d = new Date(t);
        if (!months.has(d.getUTCMonth() + 1) || !dayMatches(d)) {
            t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
            continue;
        }
        if (!hours.has(d.getUTCHours())) {
            t += 3600_000 - d.getUTCMinutes() * 60_000;
            continue;
        }
        if (minutes.has(d.getUTCMinutes())) {
            if (previous !== undefined) {
                longest = Math.max(longest, t - previous);
            }
            previous = t;
        }
        t += 60_000;
    }
    // Fewer than two runs in two years (Feb 29): the most a year can hold.
    return longest ? longest / 1000 : 366 * 86400;
}

/** The backup container's Docker healthcheck settings. */
export interface HealthPlan {
    /** Seconds after which a volume's newest good backup is too old; 0: no age check. */
    maxAgeSeconds: number;
    /** How often Docker runs the check, e.g. `60s`. */
    interval: string;
}

/**
 * maxAge (explicit, or twice the schedule's interval; 0 without a schedule)
 * and the check interval: often enough to notice a stale backup or a failed
 * run quickly relative to the schedule, at most once a minute, at least every 5 s.
 */
export function planHealth(maxAge: string | undefined, schedule: string | undefined): HealthPlan {
    const scheduleSeconds = schedule ? cronIntervalSeconds(schedule) : undefined;
    const maxAgeSeconds = maxAge !== undefined ? parseDuration(maxAge) : scheduleSeconds ? 2 * scheduleSeconds : 0;
    const shortest = Math.min(...[maxAgeSeconds, scheduleSeconds ?? 0].filter((s) => s > 0), 240);
    const interval = Math.max(5, Math.min(60, Math.floor(shortest / 4)));
    return { maxAgeSeconds, interval: `${interval}s` };
}
