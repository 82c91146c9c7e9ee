"""Writes the other input shapes of the recorded sessions (see record.sh).

KoKo (jumpserver/koko pkg/asciinema): compact Go JSON, header
{"version":2,"width":W,"height":H,"timestamp":T,"title":"","env":{...}},
only "o" events, t > 0, <>& escaped as \\u003c \\u003e \\u0026, gzipped.
"""
import gzip, io, json, os, sys, tarfile

out = sys.argv[1]


def go_json(value):
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def read_cast(path):
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        events = [json.loads(line) for line in f if line.strip()]
    return header, events


def write_gz(path, data):
    with gzip.open(path, "wb") as f:
        f.write(data)


for name in ("colours", "fullscreen"):
    header, events = read_cast(os.path.join(out, name + ".cast"))
    outs = [(max(t, 0.0001), d) for t, code, d in events if code == "o"]
    sid = "0b7e7a9e-6d7a-4f6c-9b1e-%012d" % (1 if name == "colours" else 2)
    koko_header = {"version": 2, "width": header["width"], "height": header["height"],
                   "timestamp": header.get("timestamp", 0), "title": "",
                   "env": {"SHELL": "/bin/bash", "TERM": "xterm"}}
    lines = [go_json(koko_header)] + [go_json([round(t, 6), "o", d]) for t, d in outs]
    koko = ("\n".join(lines) + "\n").encode()
    write_gz(os.path.join(out, name + ".koko.cast.gz"), koko)
    # KoKo before v2.17: one object of seconds to output.
    old = {("%.6f" % t): d for t, d in outs}
    write_gz(os.path.join(out, name + ".koko-old.replay.gz"), go_json(old).encode())
    # asciicast v1 and v3.
    prev = 0.0
    frames, v3 = [], []
    for t, d in outs:
        frames.append([round(t - prev, 6), d])
        v3.append(json.dumps([round(t - prev, 6), "o", d]))
        prev = t
    v1 = {"version": 1, "width": header["width"], "height": header["height"], "duration": prev,
          "command": None, "title": None, "env": {}, "stdout": frames}
    with open(os.path.join(out, name + ".v1.json"), "w") as f:
        json.dump(v1, f, indent=2)
    with open(os.path.join(out, name + ".v3.cast"), "w") as f:
        f.write(json.dumps({"version": 3, "term": {"cols": header["width"], "rows": header["height"]}}) + "\n")
        f.write("# converted from %s.cast\n" % name)
        f.write("\n".join(v3) + "\n")
    # guacd's typescript: header line, data, trailer; timing "delay bytes".
    data = io.BytesIO()
    timing = []
    prev = 0.0
    for t, d in outs:
        b = d.encode()
        data.write(b)
        timing.append("%.3f %d" % (t - prev, len(b)))
        prev = t
    with open(os.path.join(out, name + ".guacd.typescript"), "wb") as f:
        f.write(b"[BEGIN TYPESCRIPT]\n" + data.getvalue() + b"\n[END TYPESCRIPT]\n")
    with open(os.path.join(out, name + ".guacd.typescript.timing"), "w") as f:
        f.write("\n".join(timing) + "\n")
    # Core's download button: <sid>.tar with the replay and <sid>.json.
    with tarfile.open(os.path.join(out, name + ".download.tar"), "w") as tar:
        for member, payload in ((sid + ".cast.gz", gzip.compress(koko)),
                                (sid + ".json", json.dumps({"id": sid, "protocol": "ssh"}).encode())):
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
