/**
 * A small SVG line chart for autoscaling runs: queued and running tasks on the left axis,
 * live and desired workers on the right one, over seconds. No dependencies.
 */

/** One sample of a run. */
export interface ScaleSample {
  /** Seconds since the first submit. */
  t: number;
  queued: number;
  running: number;
  /** Ready workers of the pool. */
  workers: number;
  /** The leader's desired count (null before its first decision). */
  desired: number | null;
}

const W = 800;
const H = 360;
const PAD = { left: 56, right: 56, top: 36, bottom: 44 };

function niceMax(n: number): number {
  if (n <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(n));
  const m = n / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function renderChart(samples: readonly ScaleSample[], title: string): string {
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const taskMax = niceMax(Math.max(1, ...samples.map((s) => Math.max(s.queued, s.running))));
  const workerMax = Math.max(1, ...samples.map((s) => Math.max(s.workers, s.desired ?? 0)));
  const x = (t: number): number => PAD.left + (t / tMax) * (W - PAD.left - PAD.right);
  const yL = (v: number): number => H - PAD.bottom - (v / taskMax) * (H - PAD.top - PAD.bottom);
  const yR = (v: number): number =>
    H - PAD.bottom - (v / (workerMax + 1)) * (H - PAD.top - PAD.bottom);
  const line = (pts: [number, number][], color: string, dash = "", step = false): string => {
    if (pts.length === 0) return "";
    const d: string[] = [];
    pts.forEach(([px, py], i) => {
      if (i > 0 && step) d.push(`${px.toFixed(1)},${pts[i - 1]![1].toFixed(1)}`);
      d.push(`${px.toFixed(1)},${py.toFixed(1)}`);
    });
    return `<polyline fill="none" stroke="${color}" stroke-width="2"${dash === "" ? "" : ` stroke-dasharray="${dash}"`} points="${d.join(" ")}"/>`;
  };
  const ticks: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const v = (taskMax / 5) * i;
    ticks.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${yL(v)}" y2="${yL(v)}" stroke="#eee"/>`,
      `<text x="${PAD.left - 6}" y="${yL(v) + 4}" text-anchor="end">${Math.round(v)}</text>`,
    );
  }
  for (let v = 0; v <= workerMax + 1; v++)
    ticks.push(`<text x="${W - PAD.right + 6}" y="${yR(v) + 4}">${v}</text>`);
  const every = niceMax(tMax / 8);
  for (let t = 0; t <= tMax; t += every)
    ticks.push(
      `<text x="${x(t)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${Math.round(t)}</text>`,
    );
  const legend = [
    ["#1f77b4", "queued tasks", ""],
    ["#ff7f0e", "running tasks", ""],
    ["#2ca02c", "ready workers (right axis)", ""],
    ["#d62728", "desired workers (right axis)", "6 4"],
  ]
    .map(
      ([c, label, dash], i) =>
        `<line x1="${PAD.left + i * 180}" x2="${PAD.left + i * 180 + 18}" y1="18" y2="18" stroke="${c}" stroke-width="2"${dash === "" ? "" : ` stroke-dasharray="${dash}"`}/>` +
        `<text x="${PAD.left + i * 180 + 22}" y="22">${label}</text>`,
    )
    .join("");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...ticks,
    `<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999"/>`,
    `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}" stroke="#999"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">seconds since the first submit — ${esc(title)}</text>`,
    legend,
    line(
      samples.map((s) => [x(s.t), yL(s.queued)]),
      "#1f77b4",
    ),
    line(
      samples.map((s) => [x(s.t), yL(s.running)]),
      "#ff7f0e",
    ),
    line(
      samples.map((s) => [x(s.t), yR(s.workers)]),
      "#2ca02c",
      "",
      true,
    ),
    line(
      samples.flatMap((s) =>
        s.desired === null ? [] : [[x(s.t), yR(s.desired)] as [number, number]],
      ),
      "#d62728",
      "6 4",
      true,
    ),
    "</svg>",
    "",
  ].join("\n");
}
