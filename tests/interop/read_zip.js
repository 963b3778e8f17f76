// Read a ZIP with JSZip or unzipper and print one JSON line per member:
// {"name": ..., "size": ..., "sha256": ...}. Usage: node read_zip.js jszip|unzipper FILE
"use strict";
const crypto = require("crypto");
const fs = require("fs");

function digest(stream) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash("sha256");
    let size = 0;
    stream.on("data", (chunk) => {
      size += chunk.length;
      hash.update(chunk);
    });
    stream.on("end", () => resolve({ size, sha256: hash.digest("hex") }));
    stream.on("error", reject);
  });
}

async function withJszip(path) {
  const JSZip = require("jszip");
  // JSZip reads the central directory of an archive held in memory, as a browser does.
  const zip = await JSZip.loadAsync(fs.readFileSync(path), { checkCRC32: true });
  const out = [];
  for (const entry of Object.values(zip.files)) {
    if (entry.dir) continue;
    out.push({ name: entry.name, ...(await digest(entry.nodeStream("nodebuffer"))) });
  }
  return out;
}

async function withUnzipper(path) {
  const unzipper = require("unzipper");
  // unzipper's Parse reads the local headers front to back, as a stream arrives.
  const out = [];
  const pending = [];
  await new Promise((resolve, reject) => {
    fs.createReadStream(path)
      .pipe(unzipper.Parse())
      .on("entry", (entry) => {
        pending.push(digest(entry).then((d) => out.push({ name: entry.path, ...d })));
      })
      .on("close", resolve)
      .on("finish", resolve)
      .on("error", reject);
  });
  await Promise.all(pending);
  return out;
}

async function main() {
  const [reader, path] = process.argv.slice(2);
  const members = reader === "jszip" ? await withJszip(path) : await withUnzipper(path);
  for (const member of members) process.stdout.write(JSON.stringify(member) + "\n");
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
