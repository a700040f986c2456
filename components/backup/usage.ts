// The disk-usage report of the usage probe (scripts/usage.sh --json).

/** Disk usage of a stack's backed-up volumes and backup target (see usage.sh). */
export interface DiskUsage {
    volumes: Record<string, { bytes: number; filesystemPercent: number }>;
    target: { bytes: number; filesystemBytes: number; availableBytes: number; filesystemPercent: number };
    /** Thresholds exceeded (diskUsage.maxPercent, maxVolumeSize). */
    alerts: number;
}

/** The usage probe's JSON, or undefined before it ran (preview, mocks). */
export function parseDiskUsage(stdout: string | undefined): DiskUsage | undefined {
    const line = (stdout ?? "").trim().split("\n").pop() ?? "";
    try {
        return line ? (JSON.parse(line) as DiskUsage) : undefined;
    } catch {
        return undefined;
    }
}
