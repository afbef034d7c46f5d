// Reading a conformance recording: an asciicast v2 file from terminal/conformance/
// record.py. A checkpoint is the moment just before a key the recorder pressed (an "i"
// event that is not a terminal's answer to a query): the program is waiting, and its
// screen is what a person looks at.

import fs from 'node:fs';

/** { cols, rows, chunks: [Buffer], checkpoints: [{ label, chunks }] } where `chunks` in a
 * checkpoint is how many output chunks come before it. */
export function readCast(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const header = JSON.parse(lines[0]);
  const chunks = [];
  const checkpoints = [];
  for (const line of lines.slice(1)) {
    const [, code, data] = JSON.parse(line);
    if (code === 'o') chunks.push(Buffer.from(data, 'utf8'));
    // Answers to the program's queries start with ESC; keys pressed do not (Return, a digit, …).
    if (code === 'i' && !data.startsWith('\u001b')) checkpoints.push({ label: `before key ${checkpoints.length + 1} (${JSON.stringify(data)})`, chunks: chunks.length });
  }
  checkpoints.push({ label: 'the end', chunks: chunks.length });
  return { cols: header.width, rows: header.height, chunks, checkpoints };
}
