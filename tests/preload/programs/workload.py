# Python workload for the preload tests: threads, subprocess, dicts,
# strings, json, re, sorting. Its output is deterministic, so it must be
# byte-identical with and without LD_PRELOAD=libhakmem.so.
import collections
import hashlib
import json
import queue
import re
import subprocess
import sys
import threading


def text_corpus(seed, n):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
             "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi"]
    x = seed
    out = []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        w = words[(x >> 33) % len(words)]
        out.append(w * (1 + (x >> 40) % 3) + str((x >> 20) % 1000))
    return out


def worker(i, results):
    words = text_corpus(i + 1, 40000)
    counts = collections.Counter(words)
    d = {}
    for j, w in enumerate(words):
        d.setdefault(w[:6], []).append(j)
    big = " ".join(words)
    up = big.upper().replace("A", "@")
    parts = re.findall(r"[a-z]+(\d{3})", big)
    blob = json.dumps({"i": i, "top": counts.most_common(5), "keys": sorted(d)[:20]}, sort_keys=True)
    back = json.loads(blob)
    h = hashlib.sha256(up.encode()).hexdigest()
    results[i] = (len(counts), len(d), len(parts), back["top"][0], h[:16], sum(len(v) for v in d.values()))


def producer_consumer():
    q = queue.Queue(maxsize=64)
    total = []

    def produce(k):
        for j in range(3000):
            q.put(("item-%d-%d" % (k, j)) * (1 + j % 7))
        q.put(None)

    def consume():
        done, acc = 0, 0
        while done < 4:
            s = q.get()
            if s is None:
                done += 1
                continue
            acc += len(s) + s.count("-")
        total.append(acc)

    ts = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    c = threading.Thread(target=consume)
    for t in ts + [c]:
        t.start()
    for t in ts + [c]:
        t.join()
    return total[0]


def main():
    results = {}
    threads = [threading.Thread(target=worker, args=(i, results)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in sorted(results):
        print("worker", i, results[i])

    print("queue", producer_consumer())

    # subprocess: a child interpreter (it inherits LD_PRELOAD), and sort(1)
    child = subprocess.run(
        [sys.executable, "-c",
         "import sys; data = sys.stdin.read(); "
         "print(len(data), sorted(set(data.split()))[:5], sum(map(len, data.split())))"],
        input=" ".join(text_corpus(99, 20000)), capture_output=True, text=True, check=True)
    print("child", child.stdout.strip(), child.returncode)
    srt = subprocess.run(["sort", "-u"], input="\n".join(text_corpus(7, 30000)) + "\n",
                         capture_output=True, text=True, check=True)
    lines = srt.stdout.splitlines()
    print("sort", len(lines), lines[:3], lines[-3:])
    outs = []
    procs = [subprocess.Popen([sys.executable, "-c", "print(sum(i*i for i in range(%d)))" % (10000 * (k + 1))],
                              stdout=subprocess.PIPE, text=True) for k in range(4)]
    for p in procs:
        out, _ = p.communicate()
        outs.append(out.strip())
    print("popen", outs)

    # dicts and strings at scale
    d = {}
    for k in range(200000):
        d["key%07d" % k] = str(k * k)[::-1]
    for k in range(0, 200000, 3):
        del d["key%07d" % k]
    s = "".join(d[k][:2] for k in sorted(d))
    print("dict", len(d), hashlib.md5(s.encode()).hexdigest())
    print("done")


if __name__ == "__main__":
    main()
