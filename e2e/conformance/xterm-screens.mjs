// The reference: xterm.js (@xterm/headless, the emulator VS Code and many web terminals
// use) fed a recording's bytes, its screen at each checkpoint as the conformance test
// compares it. Prints JSON: [{ label, rows: [[cell, …], …], cursor: [row, col] }].

import xterm from '@xterm/headless';
import unicode11 from '@xterm/addon-unicode11';

const { Terminal } = xterm;
const { Unicode11Addon } = unicode11;
import { readCast } from './cast.mjs';

/** A cell as both sides write it: text, then the attributes that differ from plain. */
function cellOf(cell) {
  if (!cell) return ' ';
  const colour = (mode, value) => mode === 'default' ? null : mode === 'rgb'
    ? `#${value.toString(16).padStart(6, '0')}` : `p${value}`;
  const fgMode = cell.isFgDefault() ? 'default' : cell.isFgRGB() ? 'rgb' : 'palette';
  const bgMode = cell.isBgDefault() ? 'default' : cell.isBgRGB() ? 'rgb' : 'palette';
  const attrs = [
    cell.isBold() ? 'bold' : null, cell.isDim() ? 'dim' : null, cell.isItalic() ? 'italic' : null,
    cell.isUnderline() ? 'underline' : null, cell.isInverse() ? 'inverse' : null,
    (() => { const c = colour(fgMode, cell.getFgColor()); return c ? `fg=${c}` : null; })(),
    (() => { const c = colour(bgMode, cell.getBgColor()); return c ? `bg=${c}` : null; })(),
  ].filter(Boolean);
  const text = cell.getWidth() === 0 ? '' : (cell.getChars() || ' ');
  // An empty (erased) cell shows only its background.
  const shown = cell.getChars() || cell.getWidth() === 0 ? attrs : attrs.filter((a) => a.startsWith('bg='));
  return shown.length ? `${text}|${shown.join(',')}` : text;
}

export async function xtermScreens(file) {
  const cast = readCast(file);
  const term = new Terminal({ cols: cast.cols, rows: cast.rows, allowProposedApi: true, scrollback: 0, logLevel: 'off' });
  // Unicode 11 widths (wide emoji), as xterm.js terminals load them; its default is
  // Unicode 6, where an emoji takes one column.
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  const write = (data) => new Promise((resolve) => term.write(data, resolve));
  const screens = [];
  let fed = 0;
  for (const checkpoint of cast.checkpoints) {
    while (fed < checkpoint.chunks) await write(cast.chunks[fed++]);
    const buffer = term.buffer.active;
    const rows = [];
    for (let y = 0; y < cast.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      const row = [];
      for (let x = 0; x < cast.cols; x++) row.push(cellOf(line?.getCell(x)));
      rows.push(row);
    }
    screens.push({ label: checkpoint.label, rows, cursor: [buffer.cursorY, buffer.cursorX] });
  }
  term.dispose();
  return screens;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(JSON.stringify(await xtermScreens(process.argv[2])));
}
