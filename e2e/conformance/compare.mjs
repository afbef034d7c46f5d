// The terminal conformance test: every recording in terminal/conformance/casts (real
// programs and vttest, recorded by terminal/conformance/record.py) is replayed through
// Gatehouse's terminal model and through xterm.js, and each screen at each checkpoint
// must match cell for cell: the character and its attributes. A difference fails the
// test unless terminal/conformance/allowed.json names it (cast, checkpoint label, row)
// with the reason, which is either "not supported" (README says so) or "xterm.js
// differs from the VT100 manuals" (then Gatehouse follows the manuals).
//
//   node e2e/conformance/compare.mjs [--verbose] [CAST…]
//
// Run by ./scripts/test after the unit tests; prints screens matched per recording.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { xtermScreens } from './xterm-screens.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = path.join(root, 'terminal', 'conformance');
const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const casts = args.filter((a) => !a.startsWith('--'));
const files = casts.length ? casts : fs.readdirSync(path.join(dir, 'casts')).filter((f) => f.endsWith('.cast')).sort().map((f) => path.join(dir, 'casts', f));
const allowed = JSON.parse(fs.readFileSync(path.join(dir, 'allowed.json'), 'utf8'));
const target = process.env.CARGO_TARGET_DIR || path.join(process.env.HOME, '.cache', 'gatehouse', 'target');

// GATEHOUSE_SCREENS: another build of the screens example (say, of an older commit, to
// count what it matched).
const screensBin = process.env.GATEHOUSE_SCREENS || path.join(target, 'debug', 'examples', 'screens');
if (!process.env.GATEHOUSE_SCREENS) {
  execFileSync('cargo', ['build', '-q', '-p', 'gatehouse-terminal', '--example', 'screens'], { cwd: root, stdio: 'inherit' });
}
const ours = (file) => JSON.parse(execFileSync(screensBin, [file], { maxBuffer: 256 << 20, encoding: 'utf8' }));

const text = (row) => row.map((c) => (c.includes('|') ? c.slice(0, c.lastIndexOf('|')) : c)).join('').trimEnd();

function allowedFor(cast, label, row) {
  return allowed.find((a) => a.cast === cast && (a.checkpoint === label || a.checkpoint === '*') && (a.rows === '*' || a.rows.includes(row)));
}

let failures = 0;
const report = [];
const usedAllowances = new Set();
for (const file of files) {
  const name = path.basename(file, '.cast');
  const [mine, reference] = [ours(file), await xtermScreens(file)];
  if (mine.length !== reference.length) throw new Error(`${name}: ${mine.length} checkpoints here, ${reference.length} in xterm.js`);
  let matched = 0;
  let excused = 0;
  let screens = 0;
  const same = (a, b) => JSON.stringify(a.rows) === JSON.stringify(b.rows);
  for (let i = 0; i < mine.length; i++) {
    // A screen that did not change since the last key is the same screen, counted once.
    if (i > 0 && same(reference[i], reference[i - 1]) && same(mine[i], mine[i - 1])) continue;
    screens++;
    const label = reference[i].label;
    const differing = [];
    for (let row = 0; row < reference[i].rows.length; row++) {
      const a = mine[i].rows[row];
      const b = reference[i].rows[row];
      const cells = a.map((cell, col) => (cell === b[col] ? null : col)).filter((col) => col !== null);
      if (cells.length) differing.push({ row, cells, ours: text(a), xterm: text(b), first: cells[0], oursCell: a[cells[0]], xtermCell: b[cells[0]] });
    }
    const unexcused = differing.filter((d) => {
      const allowance = allowedFor(name, label, d.row);
      if (allowance) usedAllowances.add(allowance);
      return !allowance;
    });
    if (!differing.length) matched++;
    else if (!unexcused.length) excused++;
    else {
      failures++;
      console.log(`\n${name}, ${label}: ${unexcused.length} rows differ`);
      for (const d of unexcused.slice(0, verbose ? 99 : 4)) {
        console.log(`  row ${d.row}, from column ${d.first}: ours ${JSON.stringify(d.oursCell)}, xterm.js ${JSON.stringify(d.xtermCell)}`);
        console.log(`    ours:  ${JSON.stringify(d.ours)}`);
        console.log(`    xterm: ${JSON.stringify(d.xterm)}`);
      }
    }
  }
  report.push(`${name}: ${matched} of ${screens} screens match xterm.js${excused ? `, ${excused} differ only where allowed.json says why` : ''}`);
}
console.log(`\n${report.join('\n')}`);
const unused = allowed.filter((a) => !usedAllowances.has(a) && files.some((f) => path.basename(f, '.cast') === a.cast));
if (unused.length) {
  console.log(`\nallowed.json entries no longer needed (remove them): ${unused.map((a) => `${a.cast} ${a.checkpoint}`).join('; ')}`);
  failures++;
}
if (failures) {
  console.log(`\n${failures} screens differ from xterm.js without a reason in terminal/conformance/allowed.json`);
  process.exit(1);
}
