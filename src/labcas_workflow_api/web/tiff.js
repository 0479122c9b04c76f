// A small baseline TIFF reader for previews: the first image, strips or tiles, uncompressed,
// PackBits, LZW or Deflate (with horizontal predictor), 8/16/32-bit gray, RGB(A) or palette.

const TAGS = {
  256: "width", 257: "height", 258: "bits", 259: "compression", 262: "photometric",
  273: "stripOffsets", 277: "samples", 278: "rowsPerStrip", 279: "stripCounts",
  284: "planar", 317: "predictor", 320: "colormap", 322: "tileWidth", 323: "tileLength",
  324: "tileOffsets", 325: "tileCounts", 339: "sampleFormat",
};
const SIZES = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8 };

function readIfd(view, little) {
  const magic = view.getUint16(2, little);
  if (magic !== 42) throw new Error("not a classic TIFF file");
  const start = view.getUint32(4, little);
  const count = view.getUint16(start, little);
  const tags = {};
  for (let i = 0; i < count; i++) {
    const at = start + 2 + i * 12;
    const tag = view.getUint16(at, little);
    const type = view.getUint16(at + 2, little);
    const n = view.getUint32(at + 4, little);
    const size = (SIZES[type] || 1) * n;
    const where = size <= 4 ? at + 8 : view.getUint32(at + 8, little);
    const values = [];
    for (let k = 0; k < n; k++) {
      const p = where + k * (SIZES[type] || 1);
      values.push(type === 3 ? view.getUint16(p, little)
        : type === 4 ? view.getUint32(p, little)
        : type === 8 ? view.getInt16(p, little)
        : type === 9 ? view.getInt32(p, little)
        : type === 11 ? view.getFloat32(p, little)
        : type === 12 ? view.getFloat64(p, little)
        : view.getUint8(p));
    }
    if (TAGS[tag]) tags[TAGS[tag]] = values;
  }
  return tags;
}

function packBits(input, expected) {
  const out = new Uint8Array(expected);
  let i = 0;
  let o = 0;
  while (i < input.length && o < expected) {
    const n = (input[i++] << 24) >> 24;
    if (n >= 0) {
      for (let k = 0; k <= n && o < expected; k++) out[o++] = input[i++];
    } else if (n !== -128) {
      const value = input[i++];
      for (let k = 0; k < 1 - n && o < expected; k++) out[o++] = value;
    }
  }
  return out;
}

function lzw(input, expected) {
  const out = new Uint8Array(expected);
  let o = 0;
  let bitPos = 0;
  let table = [];
  let width = 9;
  const reset = () => {
    table = [];
    for (let i = 0; i < 256; i++) table.push([i]);
    table.push(null, null);
    width = 9;
  };
  const next = () => {
    let code = 0;
    for (let k = 0; k < width; k++) {
      const byte = input[(bitPos + k) >> 3];
      if (byte === undefined) return 257;
      code = (code << 1) | ((byte >> (7 - ((bitPos + k) & 7))) & 1);
    }
    bitPos += width;
    return code;
  };
  reset();
  let previous = null;
  for (;;) {
    const code = next();
    if (code === 257) break;
    if (code === 256) { reset(); previous = null; continue; }
    let entry;
    if (code < table.length && table[code]) entry = table[code];
    else if (previous) entry = previous.concat(previous[0]);
    else break;
    for (const b of entry) { if (o < expected) out[o++] = b; }
    if (previous) table.push(previous.concat(entry[0]));
    previous = entry;
    if (table.length + 1 >= 1 << width && width < 12) width += 1;
    if (o >= expected) break;
  }
  return out;
}

async function inflate(input) {
  const stream = new Blob([input]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function decompress(chunk, compression, expected) {
  if (compression === 1) return chunk;
  if (compression === 32773) return packBits(chunk, expected);
  if (compression === 5) return lzw(chunk, expected);
  if (compression === 8 || compression === 32946) return inflate(chunk);
  throw new Error(`compression ${compression} is not supported`);
}

function undoPredictor(bytes, width, rows, samples, bytesPerSample, little) {
  if (bytesPerSample === 1) {
    for (let r = 0; r < rows; r++) {
      const base = r * width * samples;
      for (let i = samples; i < width * samples; i++) bytes[base + i] = (bytes[base + i] + bytes[base + i - samples]) & 255;
    }
  } else if (bytesPerSample === 2) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let r = 0; r < rows; r++) {
      const base = r * width * samples * 2;
      for (let i = samples; i < width * samples; i++) {
        const p = base + i * 2;
        view.setUint16(p, (view.getUint16(p, little) + view.getUint16(p - samples * 2, little)) & 0xffff, little);
      }
    }
  }
}

/** Decode the first image of a TIFF file into a <canvas>. Throws Error in plain words. */
export async function decodeTiff(buffer) {
  const view = new DataView(buffer);
  const order = view.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) throw new Error("not a TIFF file");
  const little = order === 0x4949;
  const t = readIfd(view, little);
  const width = t.width[0];
  const height = t.height[0];
  const samples = (t.samples || [1])[0];
  const bits = (t.bits || [1])[0];
  const compression = (t.compression || [1])[0];
  const photometric = (t.photometric || [1])[0];
  const predictor = (t.predictor || [1])[0];
  const float = (t.sampleFormat || [1])[0] === 3;
  if ((t.planar || [1])[0] !== 1) throw new Error("planar TIFF layouts are not supported");
  if (![8, 16, 32].includes(bits)) throw new Error(`${bits}-bit images are not supported`);
  if (width * height > 40e6) throw new Error("the image is too large to preview");
  const bps = bits / 8;
  const pixels = new Uint8Array(width * height * samples * bps);
  const tiled = Boolean(t.tileOffsets);
  const offsets = tiled ? t.tileOffsets : t.stripOffsets;
  const counts = tiled ? t.tileCounts : t.stripCounts;
  const tw = tiled ? t.tileWidth[0] : width;
  const th = tiled ? t.tileLength[0] : (t.rowsPerStrip || [height])[0];
  const across = Math.ceil(width / tw);
  for (let i = 0; i < offsets.length; i++) {
    const chunk = new Uint8Array(buffer, offsets[i], counts[i]);
    const rows = tiled ? th : Math.min(th, height - i * th);
    const data = await decompress(chunk, compression, tw * rows * samples * bps);
    if (predictor === 2) undoPredictor(data, tw, rows, samples, bps, little);
    const x0 = tiled ? (i % across) * tw : 0;
    const y0 = tiled ? Math.floor(i / across) * th : i * th;
    const rowBytes = tw * samples * bps;
    for (let r = 0; r < rows && y0 + r < height; r++) {
      const copy = Math.min(tw, width - x0) * samples * bps;
      pixels.set(data.subarray(r * rowBytes, r * rowBytes + copy), ((y0 + r) * width + x0) * samples * bps);
    }
  }
  const pv = new DataView(pixels.buffer);
  const sample = (i) => (bps === 1 ? pixels[i] : bps === 2 ? pv.getUint16(i * 2, little)
    : float ? pv.getFloat32(i * 4, little) : pv.getUint32(i * 4, little));
  let lo = 0;
  let hi = 255;
  if (bps > 1) {
    lo = Infinity; hi = -Infinity;
    for (let i = 0; i < width * height * samples; i++) { const v = sample(i); if (v < lo) lo = v; if (v > hi) hi = v; }
    if (hi <= lo) hi = lo + 1;
  }
  const scale = (v) => Math.max(0, Math.min(255, Math.round(((v - lo) * 255) / (hi - lo))));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const rgba = image.data;
  const map = t.colormap;
  for (let p = 0; p < width * height; p++) {
    const s = p * samples;
    let r; let g; let b; let a = 255;
    if (photometric === 3 && map) {
      const idx = sample(s);
      const n = map.length / 3;
      r = map[idx] >> 8; g = map[n + idx] >> 8; b = map[2 * n + idx] >> 8;
    } else if (samples >= 3) {
      r = scale(sample(s)); g = scale(sample(s + 1)); b = scale(sample(s + 2));
      if (samples >= 4) a = scale(sample(s + 3));
    } else {
      r = g = b = scale(sample(s));
      if (photometric === 0) r = g = b = 255 - r;
      if (samples === 2) a = scale(sample(s + 1));
    }
    rgba[p * 4] = r; rgba[p * 4 + 1] = g; rgba[p * 4 + 2] = b; rgba[p * 4 + 3] = a;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}
