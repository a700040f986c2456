// The bench's data set: generated inside a busybox container straight into a
// Docker volume, so what is measured later is exactly "a volume's data".
//
// Composition of `bytes` (sizes are targets; the real totals are measured):
//   40% compressible text: 4 log files of random log-like lines (awk)
//   40% incompressible:    4 files of /dev/urandom
//   20% small files:       `smallFiles` files in 100 directories, half random
//                          bytes, half short text notes
import { createVolume, helper } from "./exec";
import { nowSeconds } from "./stats";

export interface DatasetSpec {
    bytes: number;
    smallFiles: number;
}

export interface Dataset {
    volume: string;
    /** Sum of regular-file sizes, measured after generation. */
    bytes: number;
    files: number;
    textBytes: number;
    randomBytes: number;
    smallFileBytes: number;
    smallFiles: number;
    generateSeconds: number;
}

/** One awk program that prints a random, log-like line; `seed` makes files differ. */
const LOG_AWK = `
BEGIN {
  srand(seed)
  split("INFO INFO INFO INFO WARN ERROR DEBUG", lv, " ")
  split("GET GET GET POST PUT DELETE", m, " ")
  split("/api/users /api/orders /api/orders/items /static/app.js /static/app.css /health /login /logout /api/search /api/cart", p, " ")
  split("request served;cache miss, fetching upstream;slow query detected;user session refreshed;payment authorised;retrying after timeout;connection reset by peer;rate limit applied", msg, ";")
  n = 0
  while (n < bytes) {
    line = sprintf("2024-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s [req-%08x] %s %s%s status=%d dur=%dms user=u%05d msg=\\"%s\\"",
      1 + int(rand() * 12), 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60), int(rand() * 60), int(rand() * 1000),
      lv[1 + int(rand() * 7)], int(rand() * 4294967295), m[1 + int(rand() * 6)], p[1 + int(rand() * 10)],
      (rand() < 0.3 ? sprintf("?page=%d", int(rand() * 100)) : ""), (rand() < 0.93 ? 200 : (rand() < 0.5 ? 404 : 500)),
      int(rand() * rand() * 2000), int(rand() * 20000), msg[1 + int(rand() * 8)])
    print line
    n += length(line) + 1
  }
}`;

/** Short text notes into small/tNN/, `n` files of about `avg` bytes. */
const NOTES_AWK = `
BEGIN {
  srand(seed)
  split("alpha beta gamma delta config value enabled disabled user order cache retry timeout", w, " ")
  for (i = 0; i < n; i++) {
    f = sprintf("small/t%02d/note-%05d.txt", i % 50, i)
    size = int(avg / 2 + rand() * avg)
    written = 0
    while (written < size) {
      line = sprintf("%s.%s = %s # %d", w[1 + int(rand() * 14)], w[1 + int(rand() * 14)], w[1 + int(rand() * 14)], int(rand() * 100000))
      print line > f
      written += length(line) + 1
    }
    close(f)
  }
}`;

function quote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The generator script run inside busybox with the volume at /data. */
export function generatorScript(spec: DatasetSpec): string {
    const logBytes = Math.floor((spec.bytes * 0.4) / 4);
    const blobBlocks = Math.max(1, Math.floor((spec.bytes * 0.4) / 4 / 65536));
    const half = Math.floor(spec.smallFiles / 2);
    const avg = Math.max(64, Math.floor((spec.bytes * 0.2) / Math.max(1, spec.smallFiles)));
    return `
set -eu
cd /data
mkdir -p logs blobs
i=0
while [ $i -lt 50 ]; do mkdir -p "small/t$(printf %02d $i)" "small/r$(printf %02d $i)"; i=$((i + 1)); done
LOG_AWK=${quote(LOG_AWK)}
NOTES_AWK=${quote(NOTES_AWK)}
# Three jobs for two cores: text, text + notes, random.
( awk -v bytes=${logBytes} -v seed=1 "$LOG_AWK" > logs/app-1.log && awk -v bytes=${logBytes} -v seed=2 "$LOG_AWK" > logs/app-2.log ) &
j1=$!
( awk -v bytes=${logBytes} -v seed=3 "$LOG_AWK" > logs/app-3.log && awk -v bytes=${logBytes} -v seed=4 "$LOG_AWK" > logs/app-4.log &&
  awk -v n=${spec.smallFiles - half} -v avg=${avg} -v seed=5 "$NOTES_AWK" ) &
j2=$!
(
  for b in 1 2 3 4; do dd if=/dev/urandom of=blobs/blob-$b.bin bs=65536 count=${blobBlocks} 2>/dev/null; done
  i=0
  while [ $i -lt ${half} ]; do
    head -c $((${Math.floor(avg / 2)} + RANDOM % ${avg})) /dev/urandom > "small/r$(printf %02d $((i % 50)))/blob-$(printf %05d $i).bin"
    i=$((i + 1))
  done
) &
j3=$!
wait $j1 && wait $j2 && wait $j3
sync
sum() { find "$@" -type f -exec stat -c %s {} + | awk '{ s += $1 } END { printf "%.0f\\n", s }'; }
echo "text $(sum logs small/t*)"
echo "random $(sum blobs small/r*)"
echo "small $(sum small)"
echo "all $(sum .)"
echo "files $(find . -type f | wc -l)"
echo "smallcount $(find small -type f | wc -l)"
`;
}

/** Create `volume` and fill it with the data set. */
export async function generateDataset(runId: string, volume: string, spec: DatasetSpec): Promise<Dataset> {
    await createVolume(volume, runId);
    const started = nowSeconds();
    const out = await helper(runId, [`${volume}:/data`], generatorScript(spec));
    const generateSeconds = nowSeconds() - started;
    const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(out)?.[1] ?? NaN);
    return {
        volume,
        bytes: field("all"),
        files: field("files"),
        textBytes: field("text"),
        randomBytes: field("random"),
        smallFileBytes: field("small"),
        smallFiles: field("smallcount"),
        generateSeconds,
    };
}

/**
 * Change about `fraction` of the data set's bytes in place (sizes unchanged):
 * every 100th small random file is rewritten, and a contiguous region of each
 * big file (log or blob) is overwritten with new random bytes, at an offset
 * that moves with `round`. Returns the bytes changed.
 */
export async function mutateDataset(runId: string, dataset: Dataset, fraction: number, round: number): Promise<number> {
    const target = Math.floor(dataset.bytes * fraction);
    const script = `
set -eu
cd /data
changed=0
for f in small/r*/blob-*.bin; do
  n=\${f##*blob-}; n=\${n%.bin}; n=$((1$n - 100000))
  if [ $((n % 100)) -eq ${round % 100} ]; then
    s=$(stat -c %s "$f"); head -c "$s" /dev/urandom > "$f.new" && mv "$f.new" "$f"; changed=$((changed + s))
  fi
done
left=$((${target} - changed)); [ $left -gt 0 ] || left=0
blocks=$(((left / 8 + 4095) / 4096))
for f in logs/app-*.log blobs/blob-*.bin; do
  fb=$(($(stat -c %s "$f") / 4096))
  [ $blocks -gt 0 ] && [ $fb -gt $blocks ] || continue
  seek=$(((${round} * 7919 + 13) % (fb - blocks)))
  dd if=/dev/urandom of="$f" bs=4096 count=$blocks seek=$seek conv=notrunc 2>/dev/null
  changed=$((changed + blocks * 4096))
done
sync
echo "changed $changed"
`;
    const out = await helper(runId, [`${dataset.volume}:/data`], script);
    return Number(/^changed (\d+)$/m.exec(out)?.[1] ?? NaN);
}
