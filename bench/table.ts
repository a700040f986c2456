// Plain-text tables with aligned columns for the bench's stdout report.

export type Align = "left" | "right";

export interface Table {
    title: string;
    headers: string[];
    rows: string[][];
    /** Per column; default: first column left, the rest right. */
    align?: Align[];
    /** Lines printed under the table. */
    notes?: string[];
}

/** Render a table: title, header, rule, rows, notes. */
export function renderTable(table: Table): string {
    const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? "").length)));
    const align = (i: number): Align => table.align?.[i] ?? (i === 0 ? "left" : "right");
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (align(i) === "left" ? (c ?? "").padEnd(widths[i]) : (c ?? "").padStart(widths[i])))
            .join("  ")
            .trimEnd();
    const out = [table.title, line(table.headers), widths.map((w) => "-".repeat(w)).join("  ")];
    out.push(...table.rows.map(line));
    for (const note of table.notes ?? []) {
        out.push(`  ${note}`);
    }
    return out.join("\n");
}
