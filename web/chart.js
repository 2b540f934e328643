// A small time-series chart on a canvas (no library): units sold, held and available on the
// left axis, the queue length on the right one.
import { time } from './i18n.js';

const COLORS = { sold: '#146c2e', held: '#8a4b00', available: '#0b57d0', queue: '#7b1fa2' };

const label = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/0+$/, ''));

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// points: [{t (ms), sold, held, available, queue}] oldest first; waiting: the text shown until
// there are two points.
export function drawChart(canvas, points, waiting = 'Waiting for samples…') {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 800;
  const cssH = canvas.clientHeight || 260;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const pad = { l: 48, r: 52, t: 10, b: 26 };
  const w = cssW - pad.l - pad.r;
  const h = cssH - pad.t - pad.b;
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#4a4a4a';
  if (points.length < 2) {
    g.fillText(waiting, pad.l, pad.t + h / 2);
    return;
  }
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const span = Math.max(1, t1 - t0);
  // At least 4, so the four grid lines carry whole numbers.
  const maxUnits = niceMax(Math.max(4, ...points.map((p) => Math.max(p.sold, p.held, p.available))));
  const maxQueue = niceMax(Math.max(4, ...points.map((p) => p.queue)));
  const x = (t) => pad.l + ((t - t0) / span) * w;
  const yL = (v) => pad.t + h - (v / maxUnits) * h;
  const yR = (v) => pad.t + h - (v / maxQueue) * h;

  g.strokeStyle = '#e0e0e0';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h * i) / 4;
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(pad.l + w, y); g.stroke();
    g.fillStyle = '#4a4a4a';
    g.textAlign = 'right';
    g.fillText(label(maxUnits * (1 - i / 4)), pad.l - 6, y + 4);
    g.textAlign = 'left';
    g.fillStyle = COLORS.queue;
    g.fillText(label(maxQueue * (1 - i / 4)), pad.l + w + 6, y + 4);
  }
  g.fillStyle = '#4a4a4a';
  g.textAlign = 'left';
  const fmt = time;
  g.fillText(fmt(t0), pad.l, cssH - 6);
  g.textAlign = 'right';
  g.fillText(fmt(t1), pad.l + w, cssH - 6);

  const line = (key, y, dash = []) => {
    g.strokeStyle = COLORS[key];
    g.lineWidth = 2;
    g.setLineDash(dash);
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[key])) : g.moveTo(x(p.t), y(p[key]))));
    g.stroke();
    g.setLineDash([]);
  };
  line('available', yL);
  line('held', yL);
  line('sold', yL);
  line('queue', yR, [6, 4]);
}
