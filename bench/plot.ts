// Minimal SVG charts, no dependencies: horizontal bars with min-max whiskers
// (throughput), and side-by-side line panels (construction).

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

export const palette = {
    baseline: "#8c8c8c",
    ceiling: "#c7c7c7",
    component: "#1f77b4",
    restic: "#2ca02c",
    raw: "#ff7f0e",
};

function esc(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function num(v: number): string {
    return Number.isFinite(v) ? String(Math.round(v * 10) / 10) : "0";
}

/** Round `v` up to 1, 2, 2.5 or 5 times a power of ten; ticks to match. */
export function niceScale(maxValue: number, targetTicks = 5): { max: number; ticks: number[] } {
    if (!(maxValue > 0)) {
        return { max: 1, ticks: [0, 1] };
    }
    const rough = maxValue / targetTicks;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
    const top = Math.ceil(maxValue / step) * step;
    const ticks: number[] = [];
    for (let t = 0; t <= top + step / 2; t += step) {
        ticks.push(Math.round(t * 1e6) / 1e6);
    }
    return { max: top, ticks };
}

function text(x: number, y: number, content: string, attrs = ""): string {
    return `<text x="${num(x)}" y="${num(y)}" ${FONT} ${attrs}>${esc(content)}</text>`;
}

function svg(width: number, height: number, body: string[]): string {
    return [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
        `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
        ...body,
        "</svg>",
        "",
    ].join("\n");
}

export interface Bar {
    label: string;
    value: number;
    min?: number;
    max?: number;
    /** Printed right of the bar, e.g. "0.45x seed". */
    note?: string;
    color?: string;
}

export interface BarGroup {
    title: string;
    bars: Bar[];
}

/** Horizontal bars in titled groups, one shared value axis. */
export function barChart(opts: { title: string; subtitle?: string; unit: string; groups: BarGroup[] }): string {
    const width = 980;
    const labelW = 290;
    const plotW = 440;
    const rowH = 24;
    const top = opts.subtitle ? 70 : 52;
    const all = opts.groups.flatMap((g) => g.bars);
    const scale = niceScale(Math.max(...all.map((b) => Math.max(b.value, b.max ?? 0)), 0));
    const x = (v: number) => labelW + (Math.max(0, v) / scale.max) * plotW;
    const rows = opts.groups.reduce((n, g) => n + g.bars.length + 1, 0);
    const plotBottom = top + rows * rowH + 6;
    const height = plotBottom + 48;
    const body: string[] = [text(16, 26, opts.title, `font-size="17" font-weight="bold"`)];
    if (opts.subtitle) {
        body.push(text(16, 48, opts.subtitle, `font-size="12" fill="#555"`));
    }
    for (const t of scale.ticks) {
        body.push(`<line x1="${num(x(t))}" y1="${top - 4}" x2="${num(x(t))}" y2="${plotBottom}" stroke="#e6e6e6"/>`);
        body.push(text(x(t), plotBottom + 16, String(t), `font-size="11" text-anchor="middle" fill="#555"`));
    }
    body.push(text(labelW + plotW / 2, plotBottom + 36, opts.unit, `font-size="12" text-anchor="middle" fill="#333"`));
    let y = top;
    for (const group of opts.groups) {
        body.push(text(16, y + 16, group.title, `font-size="13" font-weight="bold" fill="#222"`));
        y += rowH;
        for (const bar of group.bars) {
            const mid = y + rowH / 2;
            body.push(text(labelW - 8, mid + 4, bar.label, `font-size="12" text-anchor="end" fill="#222"`));
            body.push(
                `<rect x="${labelW}" y="${num(y + 4)}" width="${num(Math.max(1, x(bar.value) - labelW))}" height="${rowH - 8}" fill="${bar.color ?? palette.component}"/>`,
            );
            if (bar.min !== undefined && bar.max !== undefined && Number.isFinite(bar.min) && Number.isFinite(bar.max)) {
                body.push(
                    `<line x1="${num(x(bar.min))}" y1="${num(mid)}" x2="${num(x(bar.max))}" y2="${num(mid)}" stroke="#222" stroke-width="1.2"/>`,
                );
                for (const v of [bar.min, bar.max]) {
                    body.push(
                        `<line x1="${num(x(v))}" y1="${num(mid - 4)}" x2="${num(x(v))}" y2="${num(mid + 4)}" stroke="#222" stroke-width="1.2"/>`,
                    );
                }
            }
            const end = Math.max(x(bar.value), x(bar.max ?? 0));
            const value = bar.value >= 100 ? bar.value.toFixed(0) : bar.value.toFixed(1);
            body.push(text(end + 6, mid + 4, `${value}${bar.note ? `  (${bar.note})` : ""}`, `font-size="11" fill="#333"`));
            y += rowH;
        }
    }
    return svg(width, height, body);
}

export interface Point {
    x: number;
    y: number;
    min?: number;
    max?: number;
}

export interface Series {
    name: string;
    color: string;
    points: Point[];
}

export interface Panel {
    title: string;
    yLabel: string;
    series: Series[];
}

/** Side-by-side panels sharing an x axis (e.g. N = 10, 100, 500). */
export function linePanels(opts: {
    title: string;
    subtitle?: string;
    xLabel: string;
    xValues: number[];
    /** Default linear (a straight line then means linear growth). */
    xScale?: "linear" | "log";
    panels: Panel[];
}): string {
    const panelW = 400;
    const panelH = 260;
    const left = 70;
    const gap = 90;
    const top = opts.subtitle ? 96 : 76;
    const width = left + opts.panels.length * panelW + (opts.panels.length - 1) * gap + 30;
    const height = top + panelH + 64;
    const xs = opts.xValues;
    const log = opts.xScale === "log";
    const fx = (v: number) => (log ? Math.log10(v) : v);
    const lo = log ? fx(Math.min(...xs)) : 0;
    const hi = fx(Math.max(...xs));
    const body: string[] = [text(16, 26, opts.title, `font-size="17" font-weight="bold"`)];
    if (opts.subtitle) {
        body.push(text(16, 48, opts.subtitle, `font-size="12" fill="#555"`));
    }
    // Legend (series names of the first panel).
    let lx = left;
    for (const s of opts.panels[0]?.series ?? []) {
        body.push(`<rect x="${lx}" y="${top - 34}" width="14" height="4" fill="${s.color}"/>`);
        body.push(text(lx + 20, top - 28, s.name, `font-size="12" fill="#222"`));
        lx += 28 + s.name.length * 7;
    }
    opts.panels.forEach((panel, i) => {
        const x0 = left + i * (panelW + gap);
        const px = (v: number) => x0 + (hi === lo ? panelW / 2 : ((fx(v) - lo) / (hi - lo)) * (panelW - 40) + 20);
        const scale = niceScale(Math.max(...panel.series.flatMap((s) => s.points.map((p) => Math.max(p.y, p.max ?? 0))), 0));
        const py = (v: number) => top + panelH - (Math.max(0, v) / scale.max) * panelH;
        body.push(text(x0 + panelW / 2, top - 8, panel.title, `font-size="13" font-weight="bold" text-anchor="middle"`));
        body.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#bbb"/>`);
        for (const t of scale.ticks) {
            body.push(`<line x1="${x0}" y1="${num(py(t))}" x2="${x0 + panelW}" y2="${num(py(t))}" stroke="#eee"/>`);
            body.push(text(x0 - 6, py(t) + 4, String(t), `font-size="11" text-anchor="end" fill="#555"`));
        }
        for (const v of xs) {
            body.push(`<line x1="${num(px(v))}" y1="${top}" x2="${num(px(v))}" y2="${top + panelH}" stroke="#f2f2f2"/>`);
            body.push(text(px(v), top + panelH + 16, String(v), `font-size="11" text-anchor="middle" fill="#555"`));
        }
        body.push(text(x0 + panelW / 2, top + panelH + 36, opts.xLabel, `font-size="12" text-anchor="middle" fill="#333"`));
        body.push(
            text(
                x0 - 52,
                top + panelH / 2,
                panel.yLabel,
                `font-size="12" text-anchor="middle" fill="#333" transform="rotate(-90 ${x0 - 52} ${top + panelH / 2})"`,
            ),
        );
        for (const s of panel.series) {
            const pts = s.points.filter((p) => Number.isFinite(p.y));
            body.push(
                `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${num(px(p.x))},${num(py(p.y))}`).join(" ")}"/>`,
            );
            for (const p of pts) {
                if (p.min !== undefined && p.max !== undefined) {
                    body.push(
                        `<line x1="${num(px(p.x))}" y1="${num(py(p.min))}" x2="${num(px(p.x))}" y2="${num(py(p.max))}" stroke="${s.color}"/>`,
                    );
                }
                body.push(`<circle cx="${num(px(p.x))}" cy="${num(py(p.y))}" r="3.5" fill="${s.color}"/>`);
            }
        }
    });
    return svg(width, height, body);
}
