"""Print the Debian archive URI this host's own apt configuration uses.

Test images are bootstrapped from the same archive the host already trusts, so the project never
names a mirror itself. Reads deb822 ``*.sources`` files and one-line ``sources.list`` entries.
"""

import glob
import sys


def deb822_uris(text):
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _sep, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if "deb" not in fields.get("types", []):
            continue
        suites = fields.get("suites", [])
        if any("-" not in s for s in suites) and "main" in fields.get("components", []):
            yield from fields.get("uris", [])


def one_line_uris(text):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = [w for w in words[1:] if not w.startswith("[")]
        if len(words) >= 3 and "-" not in words[1] and "main" in words[2:]:
            yield words[0]


def main():
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8") as handle:
            candidates.extend(deb822_uris(handle.read()))
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            with open(path, encoding="utf-8") as handle:
                candidates.extend(one_line_uris(handle.read()))
        except FileNotFoundError:
            pass
    debian = [uri for uri in candidates if uri.rstrip("/").endswith("/debian")]
    if not debian:
        sys.exit("apt_mirror: no Debian archive found in this host's apt sources")
    print(debian[0].rstrip("/"))


if __name__ == "__main__":
    main()
